/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkeyd.yaml: the example config loads with the values it says; every broken
 * config fails naming the line and column of the problem; relative paths
 * follow the config file; PIN credentials follow $CREDENTIALS_DIRECTORY.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "daemon/config.h"
#include "tests/lib/testutil.h"

static config *parse_ok(const char *file, const char *text)
{
	config *c = NULL;
	smk_err e;

	ck_assert_msg(config_parse(file, (const uint8_t *)text, strlen(text), &c, &e) == 0, "%s",
		      e.msg);
	ck_assert_ptr_nonnull(c);
	return c;
}

/* The config must fail, and the message must start with FILE:LINE:COL and
 * contain want. */
static void parse_bad(const char *text, const char *where, const char *want)
{
	config *c = (config *)1;
	smk_err e;
	char prefix[64];

	smk_err_clear(&e);
	ck_assert_int_eq(
	    config_parse("/etc/smkeyd/smkeyd.yaml", (const uint8_t *)text, strlen(text), &c, &e),
	    -1);
	ck_assert_ptr_null(c);
	snprintf(prefix, sizeof(prefix), "/etc/smkeyd/smkeyd.yaml:%s: ", where);
	ck_assert_msg(strncmp(e.msg, prefix, strlen(prefix)) == 0, "want prefix %s, got: %s",
		      prefix, e.msg);
	ck_assert_msg(strstr(e.msg, want) != NULL, "want \"%s\" in: %s", want, e.msg);
	ck_assert_int_eq(e.code, SMK_E_FORMAT);
}

#define MINIMAL                                                                                    \
	"archive: /var/lib/smkeyd/archive.db\n"                                                    \
	"policies: /etc/smkeyd/policies.d\n"                                                       \
	"trust: /etc/smkeyd/trust\n"

START_TEST(example_config_loads)
{
	char path[512];
	config *c = NULL;
	smk_err e;

	snprintf(path, sizeof(path), "%s/etc/smkeyd.yaml", SMK_SOURCE_DIR);
	ck_assert_msg(config_load(path, &c, &e) == 0, "%s", e.msg);
	ck_assert_str_eq(c->socket_path, "/run/smkeyd/smkeyd.sock");
	ck_assert_str_eq(c->archive_path, "/var/lib/smkeyd/archive.db");
	ck_assert_str_eq(c->policies_dir, "/etc/smkeyd/policies.d");
	ck_assert_str_eq(c->trust_dir, "/etc/smkeyd/trust");
	ck_assert_uint_ge(c->device_count, 1);
	/* the example takes its PIN from the unit's LoadCredential, never a file */
	ck_assert_ptr_null(c->devices[0].pin_file);
	ck_assert_str_eq(c->devices[0].pin_credential, "hsm-pin");
	config_free(c);
}
END_TEST

START_TEST(defaults_and_relative_paths)
{
	config *c = parse_ok("/srv/demo/smkeyd.yaml", "archive: state/archive.db\n"
						      "policies: ../policies.d\n"
						      "trust: /etc/smkeyd/trust\n"
						      "devices:\n"
						      "  - reader: \"Virtual PCD*\"\n"
						      "    pin-file: pin\n");

	ck_assert_str_eq(c->archive_path, "/srv/demo/state/archive.db");
	ck_assert_str_eq(c->policies_dir, "/srv/demo/../policies.d");
	ck_assert_str_eq(c->devices[0].pin_file, "/srv/demo/pin");
	ck_assert_str_eq(c->devices[0].reader, "Virtual PCD*");
	ck_assert_ptr_null(c->devices[0].serial);
	ck_assert_str_eq(c->socket_path, "/run/smkeyd/smkeyd.sock");
	ck_assert_uint_eq(c->limits.queue, 16);
	ck_assert_uint_eq(c->limits.message_size, 64 * 1024);
	ck_assert_uint_eq(c->limits.checkpoint_hold_ms, 100);
	ck_assert_uint_eq(c->limits.clients_per_uid, 16);
	ck_assert_uint_eq(c->limits.request_timeout_ms, 10000);
	ck_assert_uint_eq(c->limits.idle_timeout_ms, 60000);
	ck_assert_uint_eq(c->retry_min_s, 2);
	ck_assert_ptr_null(c->archive_key_device);
	config_free(c);

	/* a file name without a directory is relative to the working directory */
	c = parse_ok("smkeyd.yaml", MINIMAL "devices: [{serial: DENK0404144, pin-file: p}]\n");
	ck_assert_str_eq(c->devices[0].pin_file, "./p");
	ck_assert_str_eq(c->devices[0].serial, "DENK0404144");
	config_free(c);
}
END_TEST

START_TEST(all_fields)
{
	config *c = parse_ok("/etc/smkeyd/smkeyd.yaml",
			     MINIMAL "socket: /run/x/s.sock\n"
				     "archive-key: {device: DENK0404144}\n"
				     "devices:\n"
				     "  - serial: DENK0404144\n"
				     "    reader: \"Nitrokey*\"\n"
				     "    pin-credential: pin-a\n"
				     "  - serial: ZZSIM00002\n"
				     "    pin-credential: pin-b\n"
				     "    relayed: true\n"
				     "limits: {queue: 3, message-size: 2048, clients: 5,"
				     " checkpoint-hold-ms: 0, clients-per-uid: 2,"
				     " request-timeout-ms: 500, idle-timeout-ms: 0}\n"
				     "retry: {min: 1, max: 60}\n");

	ck_assert_str_eq(c->socket_path, "/run/x/s.sock");
	ck_assert_str_eq(c->archive_key_device, "DENK0404144");
	ck_assert_uint_eq(c->device_count, 2);
	ck_assert_str_eq(c->devices[1].serial, "ZZSIM00002");
	ck_assert_uint_eq(c->devices[1].line, 10);
	ck_assert_int_eq(c->devices[0].relayed, 0);
	ck_assert_int_eq(c->devices[1].relayed, 1);
	ck_assert_uint_eq(c->limits.queue, 3);
	ck_assert_uint_eq(c->limits.message_size, 2048);
	ck_assert_uint_eq(c->limits.clients, 5);
	ck_assert_uint_eq(c->limits.checkpoint_hold_ms, 0);
	ck_assert_uint_eq(c->limits.clients_per_uid, 2);
	ck_assert_uint_eq(c->limits.request_timeout_ms, 500);
	ck_assert_uint_eq(c->limits.idle_timeout_ms, 0);
	ck_assert_uint_eq(c->retry_min_s, 1);
	ck_assert_uint_eq(c->retry_max_s, 60);
	config_free(c);
}
END_TEST

#define DEV "devices: [{reader: r, pin-file: /p}]\n"

START_TEST(broken_configs_name_the_place)
{
	parse_bad("", "1:1", "empty file");
	parse_bad("- a\n- b\n", "1:1", "holds a list");
	parse_bad("archive: [\n", "2:1", "YAML syntax");
	parse_bad(MINIMAL DEV "archvie: x\n", "5:1", "did you mean \"archive\"");
	parse_bad("policies: /p\ntrust: /t\n" DEV, "1:1", "\"archive\" is missing");
	parse_bad(MINIMAL, "1:1", "\"devices\" is missing");
	parse_bad(MINIMAL "devices: []\n", "4:10", "at least one device is needed");
	parse_bad(MINIMAL "devices: [ ]\nretry: {min: 1, max: 2}\n", "4:10",
		  "devices is an empty list");
	parse_bad(MINIMAL "devices:\n", "4:9", "must be a list");
	parse_bad(MINIMAL "devices: {reader: x}\n", "4:10", "must be a list");
	parse_bad(MINIMAL "devices:\n  - pin-file: /p\n", "5:5", "needs \"reader\"");
	parse_bad(MINIMAL "devices:\n  - reader: r\n", "5:5", "exactly one of");
	parse_bad(MINIMAL "devices:\n  - reader: r\n    pin-file: /p\n    pin-credential: c\n",
		  "5:5", "exactly one of");
	parse_bad(MINIMAL "devices:\n  - reader: r\n    pin-credential: ../etc/shadow\n", "6:21",
		  "not a path");
	parse_bad(MINIMAL "devices:\n  - serial: denk0404144\n    pin-file: /p\n", "5:13",
		  "not a device serial");
	parse_bad(MINIMAL "devices:\n  - serial: DENK0404144\n    pin-file: /p\n"
			  "  - serial: DENK0404144\n    pin-file: /q\n",
		  "7:5", "listed twice (first at 5:5)");
	parse_bad(MINIMAL "devices:\n  - reader: r\n    pin-file: /p\n"
			  "  - reader: r\n    pin-file: /q\n",
		  "7:5", "reader \"r\" is listed twice");
	parse_bad(MINIMAL "devices:\n  - reader: r\n    pin-file: /p\n    pin: 123456\n", "7:5",
		  "unknown key \"pin\" in a devices entry");
	/* a relayed device is named by its DevAut serial, never by its reader */
	parse_bad(MINIMAL "devices:\n  - reader: \"vpcd*\"\n    pin-file: /p\n    relayed: true\n",
		  "5:5", "a relayed device needs \"serial\"");
	parse_bad(MINIMAL "devices:\n  - serial: DENK0404144\n    pin-file: /p\n    relayed: yes\n",
		  "7:14", "relayed must be true or false");
	parse_bad(MINIMAL "devices:\n  - serial: DENK0404144\n    pin-file: /p\n"
			  "archive-key: {device: DENK0000001}\n",
		  "7:23", "not among the devices");
	parse_bad(MINIMAL DEV "limits: {queue: 0}\n", "5:17", "out of range");
	parse_bad(MINIMAL DEV "limits: {queue: \"5\"}\n", "5:17", "without quotes");
	parse_bad(MINIMAL DEV "limits: {message-size: 99999999999999999999999}\n", "5:24",
		  "out of range");
	parse_bad(MINIMAL DEV "limits: {checkpoint-hold-ms: 10001}\n", "5:30", "out of range");
	parse_bad(MINIMAL DEV "limits: {clients-per-uid: 0}\n", "5:27", "out of range");
	parse_bad(MINIMAL DEV "limits: {request-timeout-ms: 99}\n", "5:30", "out of range");
	parse_bad(MINIMAL DEV "retry: {min: 10, max: 5}\n", "5:8", "below retry min");
	parse_bad(MINIMAL DEV "limits: 5\n", "5:9", "must be a mapping");
	/* each kind of node names the kind it wants in full */
	parse_bad(MINIMAL DEV "limits: [5]\n", "5:9",
		  "limits is a list; it must be a mapping of \"key: value\" lines");
	parse_bad(MINIMAL DEV "socket: [a]\n", "5:9",
		  "socket is a list; it must be a single text value");
	parse_bad(MINIMAL "devices: x\n", "4:10",
		  "devices is a single value; it must be a list such as [a, b] or lines starting "
		  "with \"- \"");
	parse_bad(MINIMAL DEV
		  "socket: /run/aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
		  "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.sock\n",
		  "5:9", "longer than 107 bytes");
	/* the reader's strict rules hold for the config as for policies */
	parse_bad(MINIMAL DEV "archive: /x\n", "5:1", "duplicate key \"archive\" (first at 1:1)");
	parse_bad("a: &x /p\n", "1:4", "anchor");
	parse_bad(MINIMAL DEV "---\nx: 1\n", "5:1", "one configuration per file");
	parse_bad(MINIMAL "trust2: !!str x\n" DEV, "4:9", "tag");
	parse_bad(MINIMAL "devices: [[[[[[[[[x]]]]]]]]]\n", "4:17", "nested more than");
}
END_TEST

/* admin-groups: names resolved to gids at load (the groups every Linux
 * has), each checked where it stands. */
/* idle-release: off by default; the global after-s is the default of every
 * device that sets no idle-release-s of its own; wait-s defaults to 30; out
 * of range and unknown keys are named where they stand. */
START_TEST(idle_release)
{
	config *c = parse_ok("/etc/smkeyd/smkeyd.yaml", MINIMAL DEV);

	ck_assert_uint_eq(c->devices[0].idle_release_s, 0);
	ck_assert_uint_eq(c->idle_release_s, 0);
	ck_assert_uint_eq(c->idle_release_wait_s, 30);
	config_free(c);

	c = parse_ok("/etc/smkeyd/smkeyd.yaml",
		     MINIMAL "devices:\n"
			     "  - {reader: \"A*\", pin-file: p}\n"
			     "  - {reader: \"B*\", pin-file: p, idle-release-s: 0}\n"
			     "  - {reader: \"C*\", pin-file: p, idle-release-s: 7}\n"
			     "idle-release: {after-s: 60, wait-s: 5}\n");
	ck_assert_uint_eq(c->devices[0].idle_release_s, 60);
	ck_assert_uint_eq(c->devices[1].idle_release_s, 0);
	ck_assert_uint_eq(c->devices[2].idle_release_s, 7);
	ck_assert_uint_eq(c->idle_release_wait_s, 5);
	config_free(c);

	parse_bad(MINIMAL DEV "idle-release: {after-s: 86401}\n", "5:25", "out of range");
	parse_bad(MINIMAL DEV "idle-release: {wait-s: 0}\n", "5:24", "out of range");
	parse_bad(MINIMAL DEV "idle-release: {after: 5}\n", "5:16", "after");
	parse_bad(MINIMAL DEV "idle-release: 5\n", "5:15", "must be a mapping");
	parse_bad(MINIMAL "devices: [{reader: x, pin-file: p, idle-release-s: -1}]\n", "4:52",
		  "idle-release-s");
}
END_TEST

START_TEST(admin_groups)
{
	config *c = parse_ok("/etc/smkeyd/smkeyd.yaml", MINIMAL DEV "admin-groups: [root, adm]\n");

	ck_assert_uint_eq(c->admin_group_count, 2);
	ck_assert_str_eq(c->admin_groups[0], "root");
	ck_assert_uint_eq(c->admin_gids[0], 0);
	ck_assert_str_eq(c->admin_groups[1], "adm");
	ck_assert_uint_eq(c->admin_gids[1], 4);
	config_free(c);
	c = parse_ok("/etc/smkeyd/smkeyd.yaml", MINIMAL DEV);
	ck_assert_uint_eq(c->admin_group_count, 0);
	config_free(c);

	parse_bad(MINIMAL DEV "admin-groups: [no-such-group-smk]\n", "5:16",
		  "unknown group \"no-such-group-smk\" in admin-groups");
	parse_bad(MINIMAL DEV "admin-groups: [adm, adm]\n", "5:21", "listed twice");
	parse_bad(MINIMAL DEV "admin-groups: adm\n", "5:15", "must be a list");
	parse_bad(MINIMAL DEV "admin-groups: [[adm]]\n", "5:16", "admin group");
	parse_bad(MINIMAL DEV "admin-groups: [\"\"]\n", "5:16", "1 to 256 bytes");
	parse_bad(MINIMAL DEV "admin-group: [adm]\n", "5:1", "did you mean \"admin-groups\"");
}
END_TEST

START_TEST(garbage_never_crashes)
{
	static const char *const inputs[] = {
	    "\x00\x01\x02", "\xff\xfe", "archive: \"\\x00\"\n", "{{{{", "'unterminated",
	    ": :",	    "\t- a\n",
	};
	char buf[256];
	config *c;
	smk_err e;
	size_t i, j;
	unsigned seed = 42;

	for (i = 0; i < sizeof(inputs) / sizeof(inputs[0]); i++) {
		c = (config *)1;
		ck_assert_int_eq(config_parse("x.yaml", (const uint8_t *)inputs[i],
					      strlen(inputs[i]) + (i == 0 ? 3 : 0), &c, &e),
				 -1);
		ck_assert_ptr_null(c);
		ck_assert_msg(strncmp(e.msg, "x.yaml:", 7) == 0, "%s", e.msg);
	}
	/* random bytes: fail cleanly with a position, or (rarely) parse */
	for (i = 0; i < 500; i++) {
		for (j = 0; j < sizeof(buf); j++)
			buf[j] = (char)(rand_r(&seed) & 0xff);
		c = NULL;
		if (config_parse("r.yaml", (const uint8_t *)buf, sizeof(buf), &c, &e) == 0)
			config_free(c);
		else
			ck_assert_msg(strncmp(e.msg, "r.yaml:", 7) == 0, "%s", e.msg);
	}
}
END_TEST

START_TEST(file_limits)
{
	char dir[64], path[128];
	config *c = NULL;
	smk_err e;
	FILE *f;
	int i;

	ck_assert_int_eq(config_load("/nonexistent/smkeyd.yaml", &c, &e), -1);
	ck_assert_int_eq(e.code, SMK_E_IO);
	ck_assert_ptr_nonnull(strstr(e.msg, "/nonexistent/smkeyd.yaml"));
	ck_assert_int_eq(config_load("/tmp", &c, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "not a regular file"));

	tu_temp_dir(dir, sizeof(dir), "smk-config");
	snprintf(path, sizeof(path), "%s/smkeyd.yaml", dir);
	f = fopen(path, "w");
	ck_assert_ptr_nonnull(f);
	fputs(MINIMAL DEV, f);
	for (i = 0; i < CONFIG_FILE_MAX / 10; i++)
		fputs("# padding\n", f);
	fclose(f);
	ck_assert_int_eq(config_load(path, &c, &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "longer than"));
	unlink(path);
	rmdir(dir);
}
END_TEST

START_TEST(pin_path_from_credentials)
{
	config *c = parse_ok("/etc/smkeyd/smkeyd.yaml",
			     MINIMAL "devices:\n  - reader: a\n    pin-credential: hsm-pin\n"
				     "  - reader: b\n    pin-file: /etc/smkeyd/pin\n");
	char path[256];
	smk_err e;

	unsetenv("CREDENTIALS_DIRECTORY");
	ck_assert_int_eq(config_pin_path(&c->devices[0], path, sizeof(path), &e), -1);
	ck_assert_ptr_nonnull(strstr(e.msg, "CREDENTIALS_DIRECTORY"));
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/smkeyd.service", 1);
	ck_assert_int_eq(config_pin_path(&c->devices[0], path, sizeof(path), &e), 0);
	ck_assert_str_eq(path, "/run/credentials/smkeyd.service/hsm-pin");
	ck_assert_int_eq(config_pin_path(&c->devices[1], path, sizeof(path), &e), 0);
	ck_assert_str_eq(path, "/etc/smkeyd/pin");
	unsetenv("CREDENTIALS_DIRECTORY");
	config_free(c);
}
END_TEST

#define WKEY "witness.example.org/w1+cfcd1a67+BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4"

START_TEST(witnesses)
{
	config *c = parse_ok("/etc/smkeyd/smkeyd.yaml",
			     MINIMAL DEV "witnesses:\n"
					 "  - key: " WKEY "\n"
					 "    url: https://witness.example.org/\n"
					 "witness-user: root\n");

	ck_assert_uint_eq(c->witness_count, 1);
	ck_assert_str_eq(c->witnesses[0].key.name, "witness.example.org/w1");
	ck_assert_str_eq(c->witnesses[0].vkey, WKEY);
	ck_assert_str_eq(c->witnesses[0].url, "https://witness.example.org/");
	ck_assert_str_eq(c->witness_user, "root");
	ck_assert_uint_eq(c->witness_uid, 0);
	config_free(c);
	c = parse_ok("/etc/smkeyd/smkeyd.yaml", MINIMAL DEV "witnesses:\n  - key: " WKEY "\n");
	ck_assert_ptr_null(c->witnesses[0].url); /* accepted, not pushed */
	ck_assert_ptr_null(c->witness_user);
	config_free(c);

	parse_bad(MINIMAL DEV "witnesses:\n  - key: witness.example.org/w1+cfcd1a68+"
			      "BAOhB7/zzhC+HXDdGOdLwJln5NYwm6UNXx3chmQSVTG4\n",
		  "6:10", "is not the one of its name and key");
	parse_bad(MINIMAL DEV "witnesses:\n  - key: " WKEY "\n  - key: " WKEY "\n", "7:10",
		  "witness witness.example.org/w1 is listed twice");
	parse_bad(MINIMAL DEV "witnesses:\n  - key: " WKEY "\n    url: ftp://w.example/\n", "7:10",
		  "is not an http:// or https:// submission prefix");
	parse_bad(MINIMAL DEV "witnesses:\n  - url: https://w.example/\n", "6:5",
		  "\"key\" is missing");
	parse_bad(MINIMAL DEV "witnesses:\n  - key: " WKEY "\n    name: w1\n", "7:5", "name");
	parse_bad(MINIMAL DEV "witness-user: no-such-user-smk\n", "5:15",
		  "unknown user \"no-such-user-smk\"");
}
END_TEST

int main(void)
{
	Suite *s = suite_create("config");
	TCase *tc = tcase_create("config");

	tcase_add_test(tc, example_config_loads);
	tcase_add_test(tc, defaults_and_relative_paths);
	tcase_add_test(tc, all_fields);
	tcase_add_test(tc, broken_configs_name_the_place);
	tcase_add_test(tc, admin_groups);
	tcase_add_test(tc, idle_release);
	tcase_add_test(tc, witnesses);
	tcase_add_test(tc, garbage_never_crashes);
	tcase_add_test(tc, file_limits);
	tcase_add_test(tc, pin_path_from_credentials);
	suite_add_tcase(s, tc);
	return tu_run(s);
}
