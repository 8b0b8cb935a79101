/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey-sim: a SmartCard-HSM simulator for tests and benchmarks.
 *   smkey-sim init --state FILE --trust-out DIR [--ca FILE] [--device N] [--pin PIN]
 *                  [--so-pin HEX]
 *   smkey-sim run  --state FILE [--port N] [--host H] [--control SOCK] [--log FILE]
 *                  [--fault SPEC]... [--latency SPEC] [--quirk NAME]...
 *   smkey-sim ctl  --control SOCK REQUEST...
 *   smkey-sim show --state FILE [--ef FID]
 *   smkey-sim wrap --dkek-share FILE... --key PEM [--algorithms HEX] --out FILE
 * docs/simulator.md describes the state file, faults, the log and latency.
 */
#include <errno.h>
#include <getopt.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/pem.h>

#include "common/hex.h"
#include "sim/card.h"
#include "sim/vpcd.h"
#include "sm/tlv.h"

static volatile sig_atomic_t stop;

static void on_signal(int sig)
{
	(void)sig;
	stop = 1;
}

static void usage(FILE *f)
{
	fputs("usage: smkey-sim init --state FILE --trust-out DIR [--ca FILE] [--device N]\n"
	      "                      [--pin PIN] [--so-pin HEX16] [--force]\n"
	      "       smkey-sim run --state FILE [--port N] [--host ADDR] [--control SOCKET]\n"
	      "                     [--log FILE] [--fault SPEC]... [--latency SPEC] [--quiet]\n"
	      "                     [--attest-imports] [--fcp-algorithms]\n"
	      "                     [--quirk car-from-device|read-61xx]...\n"
	      "       smkey-sim ctl --control SOCKET REQUEST...\n"
	      "       smkey-sim show --state FILE [--ef FID]\n"
	      "       smkey-sim wrap --dkek-share FILE... --key PEM [--algorithms HEX]\n"
	      "                      --out FILE\n",
	      f);
}

static int parse_uint(const char *what, const char *s, unsigned long max, unsigned long *v)
{
	char *end;

	errno = 0;
	*v = strtoul(s, &end, 10);
	if (*s == '\0' || *s == '-' || *end != '\0' || errno || *v > max) {
		fprintf(stderr, "smkey-sim: %s \"%s\": expected a number up to %lu\n", what, s,
			max);
		return -1;
	}
	return 0;
}

static int write_file(const char *path, const uint8_t *p, size_t n)
{
	FILE *f = fopen(path, "wb");

	if (f == NULL || fwrite(p, 1, n, f) != n || fclose(f) != 0) {
		fprintf(stderr, "smkey-sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	return 0;
}

/* The simulator CA in path: loaded if the file exists, else made and saved,
 * so every card initialised with the same --ca chains to the same root. */
static sim_ca *ca_open(const char *path, smk_err *e)
{
	sim_ca *ca;

	if (access(path, F_OK) == 0)
		return sim_ca_load(path, e);
	ca = sim_ca_new(e);
	if (ca != NULL && sim_ca_save(ca, path, e) < 0) {
		sim_ca_free(ca);
		return NULL;
	}
	return ca;
}

/* The trust anchor file is named after the root's CHR, which the DICA
 * certificate names as CAR. */
static int cmd_init(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'},  {"trust-out", required_argument, NULL, 't'},
	    {"device", required_argument, NULL, 'd'}, {"pin", required_argument, NULL, 'p'},
	    {"so-pin", required_argument, NULL, 'o'}, {"force", no_argument, NULL, 'f'},
	    {"ca", required_argument, NULL, 'a'},     {NULL, 0, NULL, 0},
	};
	const char *state = NULL, *trust = NULL, *pin = SIM_DEFAULT_PIN,
		   *so = SIM_DEFAULT_SOPIN_HEX;
	const char *ca_path = NULL;
	sim_ca *ca = NULL;
	unsigned long device = 1;
	bool force = false;
	smk_buf root = SMK_BUF_INIT, sob = SMK_BUF_INIT;
	char path[4096];
	sim_card *c = NULL;
	smk_err e;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			state = optarg;
			break;
		case 't':
			trust = optarg;
			break;
		case 'd':
			if (parse_uint("--device", optarg, 99999, &device) < 0)
				return 2;
			break;
		case 'p':
			pin = optarg;
			break;
		case 'o':
			so = optarg;
			break;
		case 'f':
			force = true;
			break;
		case 'a':
			ca_path = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (state == NULL || trust == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (!force && access(state, F_OK) == 0) {
		fprintf(stderr,
			"smkey-sim: %s exists; a card is initialised once (--force to replace)\n",
			state);
		return 1;
	}
	sob.secret = 1;
	if (smk_hex_decode(so, &sob, &e) < 0 || sob.len != 8) {
		fprintf(stderr, "smkey-sim: --so-pin: expected 16 hex digits\n");
		goto done;
	}
	c = sim_card_new();
	if (c == NULL) {
		fprintf(stderr, "smkey-sim: out of memory\n");
		goto done;
	}
	if (ca_path && (ca = ca_open(ca_path, &e)) == NULL) {
		fprintf(stderr, "smkey-sim: --ca: %s\n", e.msg);
		goto done;
	}
	if (sim_card_init_pki(c, ca, (unsigned)device, &root, &e) < 0 ||
	    sim_card_set_pins(c, (const uint8_t *)pin, strlen(pin), sob.data, &e) < 0) {
		fprintf(stderr, "smkey-sim: init: %s\n", e.msg);
		goto done;
	}
	if (mkdir(trust, 0755) < 0 && errno != EEXIST) {
		fprintf(stderr, "smkey-sim: %s: %s\n", trust, strerror(errno));
		goto done;
	}
	snprintf(path, sizeof(path), "%s/%s.cvcert", trust, SIM_ROOT_CHR);
	if (write_file(path, root.data, root.len) < 0)
		goto done;
	if (sim_card_save(c, state, &e) < 0) {
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		goto done;
	}
	printf("card %s: state %s, trust anchor %s\n", sim_card_chr(c), state, path);
	rc = 0;
done:
	sim_ca_free(ca);
	sim_card_free(c);
	smk_buf_free(&root);
	smk_buf_free(&sob);
	return rc;
}

static int cmd_run(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'},	{"port", required_argument, NULL, 'p'},
	    {"host", required_argument, NULL, 'h'},	{"control", required_argument, NULL, 'c'},
	    {"log", required_argument, NULL, 'l'},	{"fault", required_argument, NULL, 'f'},
	    {"latency", required_argument, NULL, 'L'},	{"quiet", no_argument, NULL, 'q'},
	    {"attest-imports", no_argument, NULL, 'A'}, {"fcp-algorithms", no_argument, NULL, 'F'},
	    {"quirk", required_argument, NULL, 'Q'},	{NULL, 0, NULL, 0},
	};
	bool attest_imports = false, fcp_algs = false;
	sim_vpcd_opts vo = {.host = NULL, .port = SIM_VPCD_PORT, .retry_ms = 200, .control_fd = -1};
	const char *state = NULL, *control = NULL, *logpath = NULL;
	const char *faults[64];
	size_t n_faults = 0, i;
	sim_latency lat = {0};
	unsigned quirks = 0, quirk;
	struct sigaction sa;
	unsigned long v;
	FILE *logf = NULL;
	sim_card *c;
	smk_err e;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			state = optarg;
			break;
		case 'p':
			if (parse_uint("--port", optarg, 65535, &v) < 0 || v == 0)
				return 2;
			vo.port = (unsigned)v;
			break;
		case 'h':
			vo.host = optarg;
			break;
		case 'c':
			control = optarg;
			break;
		case 'l':
			logpath = optarg;
			break;
		case 'f':
			if (n_faults == sizeof(faults) / sizeof(faults[0])) {
				fprintf(stderr, "smkey-sim: too many --fault\n");
				return 2;
			}
			faults[n_faults++] = optarg;
			break;
		case 'L':
			if (sim_latency_parse(optarg, &lat, &e) < 0) {
				fprintf(stderr, "smkey-sim: --latency: %s\n", e.msg);
				return 2;
			}
			break;
		case 'q':
			vo.quiet = true;
			break;
		case 'A':
			attest_imports = true;
			break;
		case 'F':
			fcp_algs = true;
			break;
		case 'Q':
			if (sim_quirk_parse(optarg, &quirk, &e) < 0) {
				fprintf(stderr, "smkey-sim: --quirk: %s\n", e.msg);
				return 2;
			}
			quirks |= quirk;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (state == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	c = sim_card_load(state, &e);
	if (c == NULL) {
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		return 1;
	}
	for (i = 0; i < n_faults; i++) {
		sim_fault f;

		if (sim_fault_parse(faults[i], 0, &f, &e) < 0 ||
		    sim_card_add_fault(c, &f, &e) < 0) {
			fprintf(stderr, "smkey-sim: --fault: %s\n", e.msg);
			rc = 2;
			goto done;
		}
	}
	sim_card_set_latency(c, &lat);
	sim_card_set_attest_imports(c, attest_imports);
	sim_card_set_fcp_algorithms(c, fcp_algs);
	sim_card_set_quirks(c, quirks);
	if (logpath) {
		logf = fopen(logpath, "a");
		if (logf == NULL) {
			fprintf(stderr, "smkey-sim: --log %s: %s\n", logpath, strerror(errno));
			goto done;
		}
		sim_card_set_log(c, logf);
	}
	if (control) {
		vo.control_fd = sim_control_listen(control, &e);
		if (vo.control_fd < 0) {
			fprintf(stderr, "smkey-sim: %s\n", e.msg);
			goto done;
		}
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	if (sim_vpcd_run(c, &vo, &stop, &e) < 0) {
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		goto done;
	}
	rc = 0;
done:
	if (vo.control_fd >= 0) {
		close(vo.control_fd);
		unlink(control);
	}
	if (logf)
		fclose(logf);
	sim_card_free(c);
	return rc;
}

static int cmd_ctl(int argc, char **argv)
{
	smk_buf req = SMK_BUF_INIT, reply = SMK_BUF_INIT;
	const char *control = NULL;
	smk_err e;
	int i = 1, rc = 1;

	if (argc >= 3 && strcmp(argv[1], "--control") == 0) {
		control = argv[2];
		i = 3;
	}
	if (control == NULL || i >= argc) {
		usage(stderr);
		return 2;
	}
	for (; i < argc; i++) {
		if (smk_buf_add(&req, argv[i], strlen(argv[i])) < 0 ||
		    smk_buf_add_byte(&req, i + 1 < argc ? ' ' : '\0') < 0) {
			fprintf(stderr, "smkey-sim: out of memory\n");
			goto done;
		}
	}
	if (sim_control_request(control, (const char *)req.data, &reply, &e) < 0) {
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		goto done;
	}
	printf("%s\n", reply.len ? (const char *)reply.data : "");
	rc = reply.len >= 2 && memcmp(reply.data, "ok", 2) == 0 ? 0 : 1;
done:
	smk_buf_free(&req);
	smk_buf_free(&reply);
	return rc;
}

/* Without --ef a summary; with it the EF's content in hex. */
static int cmd_show(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"state", required_argument, NULL, 's'},
	    {"ef", required_argument, NULL, 'e'},
	    {NULL, 0, NULL, 0},
	};
	const char *state = NULL, *ef = NULL;
	smk_buf b = SMK_BUF_INIT;
	unsigned long fid = 0;
	sim_card *c;
	smk_err e;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 's':
			state = optarg;
			break;
		case 'e':
			ef = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (state == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (ef) {
		char *end;

		fid = strtoul(ef, &end, 16);
		if (strlen(ef) != 4 || *end != '\0') {
			fprintf(stderr, "smkey-sim: --ef \"%s\": expected 4 hex digits\n", ef);
			return 2;
		}
	}
	c = sim_card_load(state, &e);
	if (c == NULL) {
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		return 1;
	}
	if (ef == NULL) {
		sim_card_describe(c, stdout);
		rc = 0;
	} else if (sim_card_read_ef(c, (uint16_t)fid, &b) < 0) {
		fprintf(stderr, "smkey-sim: card %s has no EF %04lX\n", sim_card_chr(c), fid);
	} else {
		smk_hex_fprint(stdout, b.data, b.len);
		putchar('\n');
		rc = 0;
	}
	smk_buf_free(&b);
	sim_card_free(c);
	return rc;
}

/* A DKEK share: a file of exactly 32 bytes, XOR-ed into dkek. */
static int read_share(const char *path, uint8_t dkek[32])
{
	uint8_t share[32];
	FILE *f = fopen(path, "rb");
	size_t n;
	int ok;

	if (f == NULL) {
		fprintf(stderr, "smkey-sim: %s: %s\n", path, strerror(errno));
		return -1;
	}
	n = fread(share, 1, sizeof(share), f);
	ok = n == sizeof(share) && fgetc(f) == EOF;
	fclose(f);
	if (ok)
		for (size_t i = 0; i < sizeof(share); i++)
			dkek[i] ^= share[i];
	OPENSSL_cleanse(share, sizeof(share));
	if (!ok)
		fprintf(stderr, "smkey-sim: %s: a DKEK share is a file of exactly 32 bytes\n",
			path);
	return ok ? 0 : -1;
}

/* Make a key blob of a software key under the DKEK the shares make (each
 * share 32 raw bytes, the value MANAGE KEY DOMAIN imports), in the file
 * format of sc-hsm-tool --wrap-key (30 { 04 blob }), so that sc-hsm-tool
 * --unwrap-key imports it: what an operator who holds every share can do. */
static int cmd_wrap(int argc, char **argv)
{
	static const struct option opts[] = {
	    {"dkek-share", required_argument, NULL, 'd'},
	    {"key", required_argument, NULL, 'k'},
	    {"algorithms", required_argument, NULL, 'a'},
	    {"out", required_argument, NULL, 'o'},
	    {NULL, 0, NULL, 0},
	};
	const char *shares[16], *keypath = NULL, *algs_hex = "", *outpath = NULL;
	size_t n_shares = 0, i;
	uint8_t dkek[32] = {0};
	smk_buf algs = SMK_BUF_INIT, blob = SMK_BUF_INIT, file = SMK_BUF_INIT;
	EVP_PKEY *key = NULL;
	FILE *f;
	smk_err e;
	size_t mark;
	int ch, rc = 1;

	while ((ch = getopt_long(argc, argv, "", opts, NULL)) != -1) {
		switch (ch) {
		case 'd':
			if (n_shares == sizeof(shares) / sizeof(shares[0])) {
				fprintf(stderr, "smkey-sim: too many --dkek-share\n");
				return 2;
			}
			shares[n_shares++] = optarg;
			break;
		case 'k':
			keypath = optarg;
			break;
		case 'a':
			algs_hex = optarg;
			break;
		case 'o':
			outpath = optarg;
			break;
		default:
			usage(stderr);
			return 2;
		}
	}
	if (n_shares == 0 || keypath == NULL || outpath == NULL || optind != argc) {
		usage(stderr);
		return 2;
	}
	if (smk_hex_decode(algs_hex, &algs, &e) < 0 || algs.len > 16) {
		fprintf(stderr, "smkey-sim: --algorithms: up to 16 bytes in hex\n");
		return 2;
	}
	for (i = 0; i < n_shares; i++)
		if (read_share(shares[i], dkek) < 0)
			goto done;
	f = fopen(keypath, "r");
	if (f == NULL) {
		fprintf(stderr, "smkey-sim: %s: %s\n", keypath, strerror(errno));
		goto done;
	}
	key = PEM_read_PrivateKey(f, NULL, NULL, NULL);
	fclose(f);
	if (key == NULL) {
		fprintf(stderr, "smkey-sim: %s: not a PEM private key\n", keypath);
		goto done;
	}
	if (sim_dkek_wrap(dkek, key, algs.data, algs.len, &blob, &e) < 0) {
		fprintf(stderr, "smkey-sim: %s\n", e.msg);
		goto done;
	}
	if (tlv_begin(&file, 0x30, &mark) < 0 || tlv_put(&file, 0x04, blob.data, blob.len) < 0 ||
	    tlv_end(&file, mark) < 0 || write_file(outpath, file.data, file.len) < 0)
		goto done;
	rc = 0;
done:
	OPENSSL_cleanse(dkek, sizeof(dkek));
	EVP_PKEY_free(key);
	smk_buf_free(&algs);
	smk_buf_free(&blob);
	smk_buf_free(&file);
	return rc;
}

int main(int argc, char **argv)
{
	if (argc < 2 || strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
		usage(argc < 2 ? stderr : stdout);
		return argc < 2 ? 2 : 0;
	}
	if (strcmp(argv[1], "init") == 0)
		return cmd_init(argc - 1, argv + 1);
	if (strcmp(argv[1], "run") == 0)
		return cmd_run(argc - 1, argv + 1);
	if (strcmp(argv[1], "ctl") == 0)
		return cmd_ctl(argc - 1, argv + 1);
	if (strcmp(argv[1], "show") == 0)
		return cmd_show(argc - 1, argv + 1);
	if (strcmp(argv[1], "wrap") == 0)
		return cmd_wrap(argc - 1, argv + 1);
	fprintf(stderr, "smkey-sim: unknown command \"%s\"\n", argv[1]);
	usage(stderr);
	return 2;
}
