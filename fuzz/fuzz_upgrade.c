/* fuzz_upgrade.c - a relay's answer to the WebSocket upgrade (status line and headers). */
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char *head = malloc(size + 1), buf[300];

	if (!head)
		return 0;
	memcpy(head, data, size);
	head[size] = 0;
	ws_check_upgrade("dGhlIHNhbXBsZSBub25jZQ==", head, buf, sizeof(buf));
	free(head);
	return 0;
}
