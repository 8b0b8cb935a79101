/* SPDX-License-Identifier: BSD-3-Clause */
/* smkey: command-line client and offline tools. Dispatches to cmd_*.c. */
#include <stdio.h>
#include <string.h>

#include "smkey.h"

struct smkey_cmd {
	const char *name;
	smkey_cmd_fn fn;
	const char *summary;
};

/* Sub-commands register here, one line each. */
static const struct smkey_cmd commands[] = {
    {"cvc", cmd_cvc, "dump and verify CV certificates, device chains and CV requests"},
    {"policy", cmd_policy, "check policy files and show what the card will be told"},
    {"verify", cmd_verify, "verify a key's bundle offline against pinned roots and logs"},
    {"audit", cmd_audit, "audit an archive: records, hash chain, log, checkpoints"},
    {"log-key", cmd_log_key, "print the log's verifier key, the line to pin (archive or smkeyd)"},
    {"export", cmd_export, "write a key's public key, CV-REQ or bundle from an archive"},
    {"generate", cmd_generate, "generate a key in an HSM under a policy (asks smkeyd)"},
    {"list", cmd_list, "list the archive's records (asks smkeyd)"},
    {"show", cmd_show, "show one archive record (asks smkeyd)"},
    {"bundle", cmd_bundle, "fetch a record's verification bundle (asks smkeyd)"},
    {"policies", cmd_policies, "list smkeyd's policies and whether you may use them"},
    {"devices", cmd_devices, "list the HSMs smkeyd uses and their state"},
    {"checkpoint", cmd_checkpoint, "print the archive's signed checkpoint (asks smkeyd)"},
    {"csr", cmd_csr, "a PKCS#10 request for an archived key, signed in the HSM"},
    {"sign", cmd_sign,
     "a signature with an archived key, made in the HSM under its policy's sign: rule"},
    {"selfsign", cmd_selfsign, "a self-signed certificate for an archived key, signed in the HSM"},
    {"import-cert", cmd_import_cert, "write a certificate into the key's CE|id, archived"},
    {"adopt", cmd_adopt, "archive a key made outside smkeyd while its CV request exists"},
    {"inspect", cmd_inspect, "list a device's keys beside the archive (asks smkeyd)"},
    {"card", cmd_card, "talk to a SmartCard-HSM over PC/SC directly (list, info, genkey, sign)"},
    {"relay", cmd_relay, "join a local card to a notary's remote vpcd reader (untrusted relay)"},
    {"relay-gate", cmd_relay_gate,
     "on the notary: answer vpcd's presence polls for a relay on a slow link"},
    {NULL, NULL, NULL},
};

static void usage(FILE *f)
{
	const struct smkey_cmd *c;

	fprintf(f, "usage: smkey COMMAND [ARGS...]\n\ncommands:\n");
	for (c = commands; c->name; c++)
		fprintf(f, "  %-11s %s\n", c->name, c->summary);
}

int main(int argc, char **argv)
{
	const struct smkey_cmd *c;

	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	for (c = commands; c->name; c++)
		if (strcmp(argv[1], c->name) == 0)
			return c->fn(argc - 1, argv + 1);
	fprintf(stderr, "smkey: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
