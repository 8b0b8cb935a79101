/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The daemon configuration (config_parse on fuzzed YAML text, daemon/config.h):
 * the strict YAML reader, every key and value check, relative paths taken
 * against the file's directory, devices and their PIN sources. A config that
 * loads must say what smkeyd relies on: absolute paths everywhere, each
 * device with exactly one PIN source, limits and backoff in order; and
 * config_pin_path must answer for every device without overflowing.
 */
#include "daemon/config.h"
#include "fuzz.h"

static int absolute(const char *p)
{
	return p != NULL && p[0] == '/';
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char pin[64];
	config *c = (config *)1;
	smk_err e;
	size_t i;

	/* the parser takes bytes with a length: an exact-size copy lets ASan see a
	 * read past the end */
	uint8_t *text = fz_dup(data, size);

	/* no credentials directory: credential devices must fail cleanly */
	unsetenv("CREDENTIALS_DIRECTORY");
	if (config_parse("/etc/smkeyd/smkeyd.yaml", text, size, &c, &e) < 0) {
		FZ_CHECK(c == NULL && e.msg[0] != '\0');
		free(text);
		return 0;
	}
	FZ_CHECK(c != NULL);
	FZ_CHECK(absolute(c->socket_path) && absolute(c->archive_path));
	FZ_CHECK(absolute(c->policies_dir) && absolute(c->trust_dir));
	FZ_CHECK(c->device_count <= CONFIG_DEVICES_MAX);
	FZ_CHECK(c->retry_min_s >= 1 && c->retry_min_s <= c->retry_max_s);
	FZ_CHECK(c->limits.queue > 0 && c->limits.message_size > 0 && c->limits.clients > 0);
	for (i = 0; i < c->device_count; i++) {
		const config_device *d = &c->devices[i];

		FZ_CHECK((d->pin_file != NULL) != (d->pin_credential != NULL));
		if (d->pin_file != NULL)
			FZ_CHECK(absolute(d->pin_file));
		if (config_pin_path(d, pin, sizeof(pin), &e) == 0)
			FZ_CHECK(d->pin_file != NULL && strlen(pin) < sizeof(pin));
		else
			FZ_CHECK(e.msg[0] != '\0');
	}
	config_free(c);
	free(text);
	return 0;
}
