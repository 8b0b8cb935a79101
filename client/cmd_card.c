/*
 * smkey card: talk to SmartCard-HSMs over PC/SC directly, without the
 * daemon. For bring-up, diagnosis and the integration tests.
 *
 *   smkey card list                 readers, and which hold a SmartCard-HSM
 *   smkey card atr READER           connect exclusively and print the ATR
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common/hex.h"
#include "sm/pcsc.h"
#include "smkey.h"

#define CARD_TIMEOUT_MS 10000

static void card_usage(FILE *f)
{
	fprintf(f, "usage: smkey card list\n"
		   "       smkey card atr READER\n");
}

static int card_list(void)
{
	char **names;
	size_t n, i;
	smk_err e;

	if (pcsc_list_readers(&names, &n, CARD_TIMEOUT_MS, &e) < 0) {
		fprintf(stderr, "smkey card: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < n; i++)
		printf("%s\n", names[i]);
	pcsc_free_names(names);
	return 0;
}

static int card_atr(const char *reader)
{
	smk_transport *t;
	const uint8_t *atr;
	size_t len;
	smk_err e;

	if (pcsc_open(reader, CARD_TIMEOUT_MS, &t, &e) < 0) {
		fprintf(stderr, "smkey card: %s\n", e.msg);
		return 1;
	}
	atr = transport_atr(t, &len);
	smk_hex_fprint(stdout, atr, len);
	printf("\n");
	transport_close(t);
	return 0;
}

int cmd_card(int argc, char **argv)
{
	if (argc >= 2 && strcmp(argv[1], "list") == 0 && argc == 2)
		return card_list();
	if (argc == 3 && strcmp(argv[1], "atr") == 0)
		return card_atr(argv[2]);
	card_usage(stderr);
	return 2;
}
