/* fuzz_config.c - relaypoold.conf: the input is written to a memory file (memfd, read
 * through /proc/self/fd: no file system in the loop) and loaded, and a valid one must print
 * and parse back. */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "config.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
/* The memory file holds text; its path reads it from the start. */
static int fill(int fd, const void *p, size_t n)
{
	if (ftruncate(fd, 0) < 0 || lseek(fd, 0, SEEK_SET) < 0)
		return -1;
	return n && write(fd, p, n) != (ssize_t)n ? -1 : 0;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int fd = -1;
	static char path[64];
	struct config *c = NULL;
	char *errors = NULL;

	if (fd < 0) {
		fd = memfd_create("relaypool-fuzz-config", 0);
		if (fd < 0)
			abort();
		snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
	}
	if (fill(fd, data, size) < 0)
		abort();
	if (config_load(path, &c, &errors) == 0) {
		char *text = NULL;
		size_t len = 0;
		FILE *out = open_memstream(&text, &len);
		if (!out)
			abort();
		config_print(c, out);
		fclose(out);
		if (fill(fd, text, len) < 0)
			abort();
		free(text);
		struct config *back = NULL;
		char *e2 = NULL;
		if (config_load(path, &back, &e2) != 0)
			abort(); /* the printed form must parse */
		config_free(back);
		free(e2);
		config_free(c);
	}
	free(errors);
	return 0;
}
