/* fuzz_config.c - relaypoold.conf: the file is written to a temporary path and loaded,
 * and a valid one must print and parse back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char path[] = "/tmp/relaypool-fuzz-config-XXXXXX";
	struct config *c = NULL;
	char *errors = NULL;
	int fd = mkstemp(path);
	FILE *f;

	if (fd < 0)
		return 0;
	f = fdopen(fd, "w");
	if (!f) {
		close(fd);
		unlink(path);
		return 0;
	}
	fwrite(data, 1, size, f);
	fclose(f);
	if (config_load(path, &c, &errors) == 0) {
		FILE *out = fopen(path, "w");
		if (out) {
			config_print(c, out);
			fclose(out);
			struct config *back = NULL;
			char *e2 = NULL;
			if (config_load(path, &back, &e2) != 0)
				abort(); /* the printed form must parse */
			config_free(back);
			free(e2);
		}
		config_free(c);
	}
	free(errors);
	unlink(path);
	return 0;
}
