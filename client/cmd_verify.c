/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * smkey verify BUNDLE [--trust DIR] [--log VKEY]... [--certificate FILE]
 *                     [--witness VKEY]... [--witness-quorum N] [--apk FILE]
 *
 * For anyone who got a key's bundle: with pinned trust anchors only and no
 * network, check everything the bundle claims and print plainly who vouches
 * for what. Two sections: what the device proves (the CV request and its
 * chain to the pinned root: the key is held by device D), and what the log
 * states (policy, algorithm list, use counter, SM, requester, time, record,
 * certificate import), which is worth what the log is: a log is pinned by
 * its verifier key (--log, repeatable, and the trust directory's `logs`
 * file, docs/archive.md "Trust model").
 *
 * Exit status: 0 every check held and the bundle's log is pinned; 3 every
 * check held but no log is pinned, so the log's statements are NOT verified
 * (never 0); 1 something does not hold, or the bundle's log is not one of
 * the pinned logs; 2 usage or unreadable input. An adopted key is shown as
 * such, never with a policy; a certificate record's bundle shows the
 * certificate and the key record it is for. --certificate: the certificate
 * (PEM or DER) must hold the attested key. --apk: every signer of every
 * signature scheme the APK carries (v1 JAR, v2, v3, v3.1) must hold the
 * attested key; the APK's own signatures over its content are not checked
 * here (apksigner verify does that), only who its signers are.
 *
 * Witnesses: keys from --witness and from the trust directory's
 * "witnesses" file (one verifier key per line, "quorum N", '#' comments).
 * The checkpoint that proves inclusion must carry valid cosignatures
 * (c2sp.org/tlog-cosignature) by at least the quorum of distinct witnesses
 * (default: all of them), or the exit status is 1; each one is shown under
 * the log's statements, cosigned with its time, or missing or bad and why.
 */
#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "archive/bundle.h"
#include "archive/cosig.h"
#include "apk/apk.h"
#include "archive/verify.h"
#include "common/digest.h"
#include "common/hex.h"
#include "common/show.h"
#include "smkey.h"

#define BUNDLE_MAX (4u << 20)
#define DEFAULT_TRUST "/etc/smkeyd/trust"
#define EXIT_UNPINNED 3

static void usage(FILE *f)
{
	fprintf(
	    f,
	    "usage: smkey verify BUNDLE [--trust DIR] [--log VKEY]... [--certificate FILE]\n"
	    "                    [--signed FILE] [--witness VKEY]... [--witness-quorum N]\n"
	    "                    [--apk FILE]\n"
	    "  verify a key's bundle offline against pinned root certificates\n"
	    "  (default trust directory " DEFAULT_TRUST ") and pinned logs;\n"
	    "  --log: a log's verifier key (smkey log-key), repeatable; DIR/logs\n"
	    "  holds more, one per line;\n"
	    "  --certificate: also check that the certificate (PEM or DER) holds the\n"
	    "  attested key;\n"
	    "  --apk: also check that every signer of every signature scheme of the APK\n"
	    "  (v1, v2, v3, v3.1) holds the attested key (signer certificates only: the\n"
	    "  APK's signatures over its content are for apksigner verify);\n"
	    "  --signed: for a signature record's bundle, also check that FILE is what\n"
	    "  was signed (its SHA-256 is the record's);\n"
	    "  --witness: a witness verifier key (NAME+KEYID+BASE64), repeatable; DIR/witnesses\n"
	    "  holds more, and \"quorum N\"; the checkpoint must carry cosignatures by\n"
	    "  --witness-quorum N of them (default: all)\n"
	    "exit status: 0 verified and the log is pinned; 3 what the device proves\n"
	    "  holds but no log is pinned: the log's statements are NOT verified;\n"
	    "  1 not verified (or the bundle's log is not a pinned one, or the witness\n"
	    "  quorum is not met, or an APK signer's key is another); 2 usage or\n"
	    "  unreadable input (a malformed APK too)\n");
}

static int read_input(const char *path, smk_buf *out)
{
	FILE *f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	uint8_t chunk[8192];
	size_t n;

	if (!f)
		return -1;
	while ((n = fread(chunk, 1, sizeof(chunk), f)) > 0) {
		if (out->len + n > BUNDLE_MAX || smk_buf_add(out, chunk, n) < 0) {
			n = 0;
			break;
		}
	}
	if (ferror(f) || out->len > BUNDLE_MAX) {
		if (f != stdin)
			fclose(f);
		return -1;
	}
	if (f != stdin)
		fclose(f);
	return 0;
}

static void held(void *ctx, const char *line)
{
	(void)ctx;
	/* the line names what the bundle carries (CHRs, subjects, policy and
	 * log names): escaped, so it cannot draw lines of its own */
	printf("  ok  %s\n", smk_show(line));
}

static void utc(int64_t t, char *buf, size_t cap)
{
	time_t tt = (time_t)t;
	struct tm tm;

	if (!gmtime_r(&tt, &tm) || !strftime(buf, cap, "%Y-%m-%d %H:%M:%S UTC", &tm))
		snprintf(buf, cap, "%" PRId64, t);
}

/* What a format-2 record says of the card, in two parts. The CAR is
 * inside the device-signed CV request (the parser checks the record's CAR is
 * the request's): proven by the device. How the request reached smkeyd, the
 * key-domain state and whether the card confirmed the algorithm list are the
 * log's statements: the device signs none of them. Strings from the record
 * come escaped (archive_card_describe). */
static void card_proven(const archive_record *r)
{
	archive_card_text t;

	archive_card_describe(r, &t);
	if (t.present)
		printf("  CAR          %s (inside the CV request)\n", t.car);
}

static void card_stated(const archive_record *r)
{
	archive_card_text t;

	archive_card_describe(r, &t);
	if (!t.present) {
		printf("  card facts   not recorded (format 1 record)\n");
		return;
	}
	printf("  CV request   %s\n", t.source);
	printf("  key domains  %s%s\n", t.domains,
	       r->card.domains_reported ? " (read under secure messaging)" : "");
	printf("  alg list     %s\n", t.algs);
}

/* What the device proves: the CV request it signed and its chain to the
 * pinned root. The key is held by device D; nothing here says how the key
 * came to be there. */
static void proven_by_device(const archive_verified *v)
{
	const archive_record *r = &v->record;
	const devaut_chain *c = &v->att.chain;
	const devaut_chain *kc = &v->key_att.chain;
	int adopted = strcmp(r->kind, ARCHIVE_KIND_ADOPTED) == 0;

	printf("\nProven by the device (CV request, chain to the pinned root):\n");
	printf("  key          %s, SHA-256 of the public key %s\n", v->att.key_type, v->att.key_fp);
	printf("  held by      device %s (DevAut %s), DICA %s, root %s\n", smk_show(c->serial),
	       smk_show(c->device_chr), smk_show(c->dica_chr), smk_show(c->root_chr));
	if (adopted)
		printf("  CV request   CHR %s, chosen by whoever made the key (adopted: no "
		       "intent)\n",
		       smk_show(r->chr));
	else
		printf("  CV request   CHR %s, which commits to the log's intent %s\n",
		       smk_show(r->chr), smk_show(r->request_id));
	card_proven(r);
	printf("  log key      SHA-256 %s, held by device %s (DevAut %s), record 0\n",
	       v->archive_key_fp, smk_show(kc->serial), smk_show(kc->device_chr));
}

/* One line of the log's statements. */
static void stated(const char *field, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

static void stated(const char *field, const char *fmt, ...)
{
	va_list ap;

	printf("  %-12s ", field);
	va_start(ap, fmt);
	vprintf(fmt, ap);
	va_end(ap);
	putchar('\n');
}

/* What the log states: everything a record says beyond the device's proof.
 * Worth what the log is: the heading says whether it is pinned. Every line
 * of this kind goes here. */
static void stated_by_log(const archive_verified *v)
{
	const archive_record *r = &v->record;
	int adopted = strcmp(r->kind, ARCHIVE_KIND_ADOPTED) == 0;
	char t[40], note[512];

	if (v->log_pinned)
		printf("\nStated by log %s (pinned as %s):\n", smk_show(v->log.name), v->log.text);
	else
		printf("\nNOT VERIFIED: log %s is not pinned; these are its unverified "
		       "statements:\n",
		       smk_show(v->log.name));
	utc(r->time, t, sizeof(t));
	if (adopted) {
		/* never a policy line: there was no policy */
		archive_adopted_note(r, note, sizeof(note));
		stated("kind", "%s", smk_show(note));
	}
	stated("label", "%s (key id %u on the device)", r->label[0] ? smk_show(r->label) : "(none)",
	       r->key_id);
	if (adopted) {
		stated("adopted", "%s, by uid %u, gid %u, pid %" PRId64 ", %s", t, r->uid, r->gid,
		       r->pid, r->exe[0] ? smk_show(r->exe) : "(executable unknown)");
	} else {
		stated("policy", "%s, SHA-256 %s", smk_show(r->policy_name), v->policy_digest);
		stated("algorithms", "%s  (the operations the log says the card was told to allow)",
		       smk_show(v->algorithms));
		if (r->use_counter)
			stated("use counter", "%" PRId64 " operations", r->use_counter);
		else
			stated("use counter", "none (unlimited)");
		stated("made", "%s, GAKP under secure messaging %s", t, smk_show(r->sm_protocol));
		stated("requester", "uid %u, gid %u, pid %" PRId64 ", %s", r->uid, r->gid, r->pid,
		       r->exe[0] ? smk_show(r->exe) : "(executable unknown)");
	}
	stated("record", "%" PRIu64 " (request %s)", r->seq, smk_show(r->request_id));
	card_stated(r);
	/* notary mode: the log's own word on how it reached the card; the card
	 * proves who it is (the chain above), not which host it sat in */
	if (r->has_card && r->card.relayed)
		stated("relay",
		       "the card was reached through a relay; %s log %s itself, "
		       "under secure messaging that ends in the card (the relay's host "
		       "could neither read nor change the PIN, the GAKP or its answer)",
		       adopted ? "the card was read by" : "the GAKP was sent by the smkeyd of",
		       smk_show(v->origin));
	if (v->has_cert) {
		const archive_record *cr = &v->cert_record;

		utc(cr->time, t, sizeof(t));
		stated("certificate", "%s, SHA-256 %s", smk_show(v->cert_subject), cr->cert_fp);
		stated("", "written to CE|%u %s by uid %u, pid %" PRId64 " (record %" PRIu64 ")",
		       cr->key_id, t, cr->uid, cr->pid, cr->seq);
	}
	if (v->has_sig) {
		const archive_record *sr = &v->cert_record;
		char hex[65];

		utc(sr->time, t, sizeof(t));
		smk_hex_to(hex, sr->sig_input.data, sr->sig_input.len < 32 ? sr->sig_input.len : 32,
			   SMK_HEX_LOWER);
		stated("signature", "%s%s, %s %s%s", smk_show(sr->sig_alg),
		       sr->sig_host_hashed ? " (smkeyd hashed the message)" : "",
		       sr->sig_digest_given ? "digest" : "message SHA-256", hex,
		       sr->sig_input.len > 32 ? "..." : "");
		stated("", "made %s for uid %u, gid %u, pid %" PRId64 ", %s (record %" PRIu64 ")",
		       t, sr->uid, sr->gid, sr->pid,
		       sr->exe[0] ? smk_show(sr->exe) : "(executable unknown)", sr->seq);
	}
	stated("archive key", "sign-only under policy %s (record 0)",
	       smk_show(v->key_record.policy_name));
	stated("log", "%s, checkpoint size %" PRIu64, smk_show(v->origin), v->checkpoint_size);
	stated("verifier key", "%s", v->log.text);
}

/* The trust directory's witnesses file, when there is one. 0 loaded or
 * absent, -1 unreadable or malformed (printed). */
static int load_witness_file(const char *trust_dir, cosig_policy *wp)
{
	char path[4096];
	smk_buf text = SMK_BUF_INIT;
	struct stat st;
	smk_err e;
	int rc;

	snprintf(path, sizeof(path), "%s/witnesses", trust_dir);
	if (stat(path, &st) != 0)
		return 0;
	if (read_input(path, &text) < 0) {
		fprintf(stderr, "smkey verify: cannot read %s\n", path);
		smk_buf_free(&text);
		return -1;
	}
	rc = cosig_policy_load(wp, text.data, text.len, path, &e);
	smk_buf_free(&text);
	if (rc < 0)
		fprintf(stderr, "smkey verify: %s\n", e.msg);
	return rc;
}

/* The witness lines, the last of the log's section: every pinned witness,
 * cosigned (with its time) or missing or bad and why, on the checkpoint
 * that proves inclusion. 0 the quorum holds, 1 it does not. */
static int check_witnesses(const smk_buf *in, const cosig_policy *wp)
{
	cosig_result res[COSIG_KEYS_MAX];
	archive_bundle b;
	size_t i, valid = 0;
	smk_err e;
	char t[40];
	int rc;

	if (wp->n == 0) {
		stated("witnesses", "none pinned: cosignatures not checked (--witness, or a "
				    "witnesses file in the trust directory)");
		return 0;
	}
	rc = archive_bundle_parse(in->data, in->len, &b, &e);
	if (rc == 0) {
		rc = cosig_check_note(b.checkpoint.data, b.checkpoint.len, wp->keys, wp->n,
				      (int64_t)time(NULL) + 3600, res, &valid, &e);
		archive_bundle_free(&b);
	}
	if (rc < 0) {
		printf("  FAILED  witnesses: %s\n", smk_show(e.msg));
		fflush(stdout);
		fprintf(stderr, "smkey verify: NOT VERIFIED: witnesses: %s\n", smk_show(e.msg));
		return 1;
	}
	stated("witnesses", "quorum %ld of %zu pinned, on the checkpoint above:", wp->quorum,
	       wp->n);
	for (i = 0; i < wp->n; i++) {
		if (res[i].status == COSIG_OK) {
			utc((int64_t)res[i].time, t, sizeof(t));
			printf("    ok       cosigned by witness %s at %s\n", wp->keys[i].name, t);
		} else {
			printf("    %-8s witness %s: %s\n",
			       res[i].status == COSIG_BAD ? "BAD" : "missing", wp->keys[i].name,
			       smk_show(res[i].why));
		}
	}
	if ((long)valid < wp->quorum) {
		printf(
		    "    FAILED   %zu valid cosignature(s) by distinct witnesses, %ld required\n",
		    valid, wp->quorum);
		fflush(stdout);
		fprintf(stderr,
			"smkey verify: NOT VERIFIED: witness quorum not met: %zu of %ld "
			"cosignatures\n",
			valid, wp->quorum);
		return 1;
	}
	printf("    ok       witness quorum: %zu valid cosignature(s), %ld required\n", valid,
	       wp->quorum);
	return 0;
}

/* --certificate FILE: does it hold the attested key? 0 yes, 1 no, 2 unreadable. */
static int check_certificate(const char *path, const archive_verified *v)
{
	smk_buf in = SMK_BUF_INIT, der = SMK_BUF_INIT;
	char subject[256], fp[65];
	smk_err e;
	int rc = 2;

	if (read_input(path, &in) < 0) {
		fprintf(stderr, "smkey verify: cannot read certificate %s\n", path);
		goto out;
	}
	if (archive_cert_load(in.data, in.len, &der, &e) < 0 ||
	    archive_cert_describe(der.data, der.len, subject, fp, &e) < 0) {
		fprintf(stderr, "smkey verify: %s: %s\n", smk_show(path), smk_show(e.msg));
		goto out;
	}
	if (archive_cert_matches(der.data, der.len, v->att.key.spki.data, v->att.key.spki.len, &e) <
	    0) {
		printf("  FAILED  certificate %s (%s): %s\n", smk_show(subject), smk_show(path),
		       smk_show(e.msg));
		fflush(stdout);
		fprintf(stderr, "smkey verify: certificate %s: %s\n", smk_show(path),
			smk_show(e.msg));
		rc = 1;
		goto out;
	}
	printf("  ok  certificate %s (SHA-256 %s) holds the attested key\n", smk_show(subject), fp);
	rc = 0;
out:
	smk_buf_free(&in);
	smk_buf_free(&der);
	return rc;
}

/* --apk FILE: does every signer of every scheme the APK carries hold the
 * attested key? 0 yes, 1 no (or no signer at all), 2 unreadable or
 * malformed. Lines in apksigner verify --print-certs' terms: the
 * certificate's SHA-256 and the public key's (SHA-256 of the SPKI DER). */
static int check_apk(const char *path, const archive_verified *v)
{
	apk_signers s = APK_SIGNERS_INIT;
	const apk_signer *sg;
	int others = 0;
	size_t i;
	smk_err e;

	if (apk_read_file(path, &s, &e) < 0) {
		printf("  FAILED  APK %s: %s\n", smk_show(path), smk_show(e.msg));
		fflush(stdout);
		fprintf(stderr, "smkey verify: APK %s: %s\n", smk_show(path), smk_show(e.msg));
		return 2;
	}
	printf("APK %s: signer certificates (the APK's signatures over its content are not "
	       "checked here: apksigner verify does that)\n",
	       smk_show(path));
	for (i = 0; i < s.n; i++) {
		sg = &s.v[i];
		if (apk_signer_holds(sg, v->att.key.spki.data, v->att.key.spki.len)) {
			printf("  ok      %s signer #%u (%s): certificate %s, SHA-256 %s; public "
			       "key SHA-256 %s: the attested key\n",
			       apk_scheme_name(sg->scheme), sg->index, smk_show(sg->where),
			       smk_show(sg->subject), sg->cert_sha256, sg->spki_sha256);
			continue;
		}
		others++;
		printf("  FAILED  %s signer #%u (%s): certificate %s, SHA-256 %s; public key "
		       "SHA-256 %s: not the attested key (SHA-256 %s)\n",
		       apk_scheme_name(sg->scheme), sg->index, smk_show(sg->where),
		       smk_show(sg->subject), sg->cert_sha256, sg->spki_sha256, v->att.key_fp);
		fflush(stdout);
		fprintf(stderr,
			"smkey verify: APK %s: %s signer #%u (%s) holds public key SHA-256 %s, "
			"not the attested key\n",
			smk_show(path), apk_scheme_name(sg->scheme), sg->index,
			smk_show(sg->subject), sg->spki_sha256);
	}
	if (s.schemes == 0) {
		printf("  FAILED  APK %s is not signed: no v1, v2 or v3 signer\n", smk_show(path));
		fflush(stdout);
		fprintf(stderr, "smkey verify: APK %s: no v1, v2 or v3 signer\n", smk_show(path));
		others = 1;
	} else if (others == 0) {
		char list[32] = "";
		enum apk_scheme sc;

		for (sc = APK_V1; sc <= APK_V31; sc++)
			if (s.schemes & (1u << sc))
				snprintf(list + strlen(list), sizeof(list) - strlen(list), "%s%s",
					 list[0] ? ", " : "",
					 sc == APK_V1 ? "v1" : apk_scheme_name(sc));
		printf("  ok      every signer of the APK's schemes (%s) holds the attested key\n",
		       list);
	}
	apk_signers_free(&s);
	return others ? 1 : 0;
}

/* --signed FILE: is FILE what the signature record signed? 0 yes, 1 no
 * (or not a signature bundle), 2 unreadable. FILE is read through the hash,
 * whatever its size (smkey sign signs files of any size). */
static int check_signed(const char *path, const archive_verified *v)
{
	FILE *f;
	uint8_t digest[32];
	smk_err e;
	int rc;

	if (!v->has_sig) {
		printf("  FAILED  --signed %s: the bundle is not a signature record's\n",
		       smk_show(path));
		fflush(stdout);
		fprintf(stderr, "smkey verify: --signed needs a signature record's bundle\n");
		return 1;
	}
	f = strcmp(path, "-") == 0 ? stdin : fopen(path, "rb");
	if (f == NULL) {
		fprintf(stderr, "smkey verify: cannot read %s\n", smk_show(path));
		return 2;
	}
	rc = smk_sha256_stream(NULL, 0, f, path, digest, NULL, &e);
	if (f != stdin)
		fclose(f);
	if (rc < 0) {
		fprintf(stderr, "smkey verify: %s\n", smk_show(e.msg));
		return 2;
	}
	if (archive_sig_matches_file(&v->cert_record, digest, &e) < 0) {
		printf("  FAILED  signed file %s: %s\n", smk_show(path), smk_show(e.msg));
		fflush(stdout);
		fprintf(stderr, "smkey verify: --signed %s: %s\n", smk_show(path), smk_show(e.msg));
		return 1;
	}
	printf("  ok  signed file %s: its SHA-256 is the one record %" PRIu64
	       " holds, signed with the attested key\n",
	       smk_show(path), v->cert_record.seq);
	return 0;
}

/* The pinned logs: --log values, then DIR/logs. */
static int load_pins(archive_logpins *pins, char **logs, int nlogs, const char *trust_dir,
		     size_t *from_file)
{
	char path[4096];
	smk_err e;
	int i, rc;

	for (i = 0; i < nlogs; i++)
		if (archive_logpins_add(pins, logs[i], "--log", &e) < 0) {
			fprintf(stderr, "smkey verify: %s\n", smk_show(e.msg));
			return -1;
		}
	snprintf(path, sizeof(path), "%s/logs", trust_dir);
	rc = archive_logpins_load_file(pins, path, &e);
	if (rc < 0) {
		fprintf(stderr, "smkey verify: pinned logs: %s\n", smk_show(e.msg));
		return -1;
	}
	*from_file = pins->n - (size_t)nlogs;
	return 0;
}

int cmd_verify(int argc, char **argv)
{
	const char *bundle = NULL, *trust_dir = NULL, *cert = NULL, *apk = NULL;
	const char *signed_file = NULL;
	cosig_policy wp;
	long quorum = -1;
	trust_store trust = TRUST_STORE_INIT;
	archive_logpins pins = ARCHIVE_LOGPINS_INIT;
	smk_buf in = SMK_BUF_INIT;
	char **logs = NULL;
	int nlogs = 0;
	size_t from_file = 0, k;
	archive_verified v;
	struct stat st;
	smk_err e;
	int i, rc;

	cosig_policy_init(&wp);
	logs = calloc((size_t)argc, sizeof(*logs));
	if (!logs) {
		fprintf(stderr, "smkey verify: out of memory\n");
		return 2;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trust") == 0 && i + 1 < argc) {
			trust_dir = argv[++i];
		} else if (strcmp(argv[i], "--log") == 0 && i + 1 < argc) {
			logs[nlogs++] = argv[++i];
		} else if (strcmp(argv[i], "--certificate") == 0 && i + 1 < argc) {
			cert = argv[++i];
		} else if (strcmp(argv[i], "--apk") == 0 && i + 1 < argc) {
			apk = argv[++i];
		} else if (strcmp(argv[i], "--signed") == 0 && i + 1 < argc) {
			signed_file = argv[++i];
		} else if (strcmp(argv[i], "--witness") == 0 && i + 1 < argc) {
			if (cosig_policy_add(&wp, argv[++i], &e) < 0) {
				fprintf(stderr, "smkey verify: --witness: %s\n", smk_show(e.msg));
				free(logs);
				return 2;
			}
		} else if (strcmp(argv[i], "--witness-quorum") == 0 && i + 1 < argc) {
			char *end;

			quorum = strtol(argv[++i], &end, 10);
			if (*end || end == argv[i] || quorum < 1 || quorum > COSIG_KEYS_MAX) {
				fprintf(stderr,
					"smkey verify: --witness-quorum takes a number from 1 to "
					"%d\n",
					COSIG_KEYS_MAX);
				free(logs);
				return 2;
			}
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			free(logs);
			return 0;
		} else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !bundle) {
			bundle = argv[i];
		} else {
			usage(stderr);
			free(logs);
			return 2;
		}
	}
	if (!bundle) {
		usage(stderr);
		free(logs);
		return 2;
	}
	if (!trust_dir) {
		if (stat(DEFAULT_TRUST, &st) != 0) {
			fprintf(stderr, "smkey verify: no --trust DIR and no %s\n", DEFAULT_TRUST);
			free(logs);
			return 2;
		}
		trust_dir = DEFAULT_TRUST;
	}
	rc = load_pins(&pins, logs, nlogs, trust_dir, &from_file);
	free(logs);
	if (rc < 0) {
		archive_logpins_free(&pins); /* the keys read before the bad one */
		return 2;
	}
	if (load_witness_file(trust_dir, &wp) < 0) {
		archive_logpins_free(&pins);
		return 2;
	}
	if (quorum > 0)
		wp.quorum = quorum; /* the command line wins over the file */
	if (wp.quorum > 0 && (size_t)wp.quorum > wp.n) {
		fprintf(stderr,
			"smkey verify: witness quorum %ld, but %zu witness key(s) pinned "
			"(--witness or %s/witnesses)\n",
			wp.quorum, wp.n, smk_show(trust_dir));
		archive_logpins_free(&pins);
		return 2;
	}
	if (wp.quorum < 0)
		wp.quorum = (long)wp.n; /* no quorum given: every pinned witness */
	if (trust_load_dir(&trust, trust_dir, &e) < 0) {
		fprintf(stderr, "smkey verify: trust anchors %s: %s\n", smk_show(trust_dir),
			smk_show(e.msg));
		archive_logpins_free(&pins);
		return 2;
	}
	if (read_input(bundle, &in) < 0) {
		fprintf(stderr, "smkey verify: cannot read %s\n", smk_show(bundle));
		rc = 2;
		goto done;
	}
	smkey_warn_test_roots(stdout, &trust);
	printf("smkey verify: %s (trust anchors %s; ", smk_show(bundle), smk_show(trust_dir));
	if (pins.n)
		printf("%zu pinned log%s: %d from --log, %zu from %s/logs)\n", pins.n,
		       pins.n == 1 ? "" : "s", nlogs, from_file, smk_show(trust_dir));
	else
		printf("no pinned log)\n");
	rc = archive_verify_bundle(in.data, in.len, &trust, &pins, held, NULL, &v, &e);
	if (rc >= 0) {
		int pinned = rc == 0;

		proven_by_device(&v);
		stated_by_log(&v);
		/* witnesses vouch for the checkpoint, under the log's statements */
		rc = check_witnesses(&in, &wp);
		if (rc == 0 && cert) {
			printf("\n");
			rc = check_certificate(cert, &v);
		}
		if (rc == 0 && apk) {
			printf("\n");
			rc = check_apk(apk, &v);
		}
		if (rc == 0 && signed_file) {
			printf("\n");
			rc = check_signed(signed_file, &v);
		}
		if (rc == 0 && !pinned) {
			printf("\nNOT VERIFIED: log %s is not pinned. The device proves only the "
			       "key and the device; pin the log with --log '%s' (or in %s/logs) "
			       "once you know it is the right one.\n",
			       smk_show(v.log.name), v.log.text, smk_show(trust_dir));
			fflush(stdout);
			fprintf(stderr,
				"smkey verify: log %s is not pinned: its statements are not "
				"verified\n",
				smk_show(v.log.name));
			rc = EXIT_UNPINNED;
		} else if (rc == 0) {
			printf("\nVerified: the device's proof, and log %s (pinned) for "
			       "the rest.\n",
			       smk_show(v.log.name));
		}
		archive_verified_free(&v);
		goto done;
	}
	printf("  FAILED  %s\n", smk_show(e.msg));
	for (k = 0; k < pins.n; k++)
		printf("          pinned log: %s\n", pins.keys[k].text);
	fflush(stdout);
	fprintf(stderr, "smkey verify: NOT VERIFIED: %s\n", smk_show(e.msg));
	rc = 1;
done:
	trust_free(&trust);
	archive_logpins_free(&pins);
	smk_buf_free(&in);
	return rc;
}
