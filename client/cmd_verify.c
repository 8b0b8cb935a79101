/*
 * smkey verify BUNDLE [--trust DIR] [--certificate FILE]
 *
 * For anyone who got a key's bundle: with pinned trust anchors only and no
 * network, check everything the bundle claims and print plainly what was
 * verified. Fails closed: the first thing that does not hold is named and
 * the exit status is 1. Usage or unreadable input: 2. An adopted key is
 * shown as such, never with a policy; a certificate record's bundle shows
 * the certificate and the key record it is for. --certificate: the
 * certificate (PEM or DER) must hold the attested key.
 */
#include <inttypes.h>
#include <stdio.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

#include "archive/verify.h"
#include "common/show.h"
#include "smkey.h"

#define BUNDLE_MAX (4u << 20)
#define DEFAULT_TRUST "/etc/smkeyd/trust"

static void usage(FILE *f)
{
	fprintf(f, "usage: smkey verify BUNDLE [--trust DIR] [--certificate FILE]\n"
		   "  verify a key's bundle offline against pinned root certificates\n"
		   "  (default trust directory " DEFAULT_TRUST ");\n"
		   "  --certificate: also check that the certificate (PEM or DER) holds the\n"
		   "  attested key\n");
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

/* What a format-2 record says of the card. The CAR is inside the
 * device-signed CV request (checked above); the rest is the log's
 * statement: the device signs none of it. Strings from the record come
 * escaped (archive_card_describe). */
static void card_facts(const archive_record *r)
{
	archive_card_text t;

	archive_card_describe(r, &t);
	if (!t.present) {
		printf("  card facts   not recorded (format 1 record)\n");
		return;
	}
	printf("  CAR          %s (inside the device-signed CV request)\n", t.car);
	printf("  CV request   %s (stated by the log)\n", t.source);
	printf("  key domains  %s (read under secure messaging, stated by the log)\n", t.domains);
	printf("  alg list     %s (stated by the log)\n", t.algs);
}

static void summary(const archive_verified *v)
{
	const archive_record *r = &v->record;
	const devaut_chain *c = &v->att.chain;
	int adopted = strcmp(r->kind, ARCHIVE_KIND_ADOPTED) == 0;
	char t[40], note[256];

	utc(r->time, t, sizeof(t));
	printf("\nVerified:\n");
	if (adopted) {
		/* never a policy line: there was no policy */
		archive_adopted_note(r, note, sizeof(note));
		printf("  %s\n", note);
	}
	printf("  key          %s, SHA-256 of the public key %s\n", v->att.key_type, v->att.key_fp);
	printf("  label        %s (key id %u on the device)\n", r->label[0] ? r->label : "(none)",
	       r->key_id);
	printf("  device       %s (DevAut %s), DICA %s, root %s\n", c->serial, c->device_chr,
	       c->dica_chr, c->root_chr);
	if (adopted) {
		printf("  adopted      %s, by uid %u, gid %u, pid %" PRId64 ", %s\n", t, r->uid,
		       r->gid, r->pid, r->exe[0] ? r->exe : "(executable unknown)");
		printf("  record       %" PRIu64 " (request %s, CHR %s from the CV-REQ)\n", r->seq,
		       r->request_id, r->chr);
	} else {
		printf("  policy       %s, SHA-256 %s\n", r->policy_name, v->policy_digest);
		printf("  algorithms   %s  (the only operations the card allows)\n", v->algorithms);
		if (r->use_counter)
			printf("  use counter  %" PRId64 " operations\n", r->use_counter);
		else
			printf("  use counter  none (unlimited)\n");
		printf("  made         %s, GAKP under secure messaging %s\n", t, r->sm_protocol);
		printf("  requester    uid %u, gid %u, pid %" PRId64 ", %s\n", r->uid, r->gid,
		       r->pid, r->exe[0] ? r->exe : "(executable unknown)");
		printf("  record       %" PRIu64 " (request %s, CHR %s)\n", r->seq, r->request_id,
		       r->chr);
	}
	card_facts(r);
	if (v->has_cert) {
		const archive_record *cr = &v->cert_record;

		utc(cr->time, t, sizeof(t));
		printf("  certificate  %s, SHA-256 %s\n", v->cert_subject, cr->cert_fp);
		printf("               written to CE|%u %s by uid %u, pid %" PRId64
		       " (record %" PRIu64 ")\n",
		       cr->key_id, t, cr->uid, cr->pid, cr->seq);
	}
	printf("  archive key  SHA-256 %s, made in %s under %s\n", v->archive_key_fp,
	       v->key_att.chain.device_chr, v->key_record.policy_name);
	printf("  log          %s, checkpoint size %" PRIu64 "\n", v->origin, v->checkpoint_size);
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
		fprintf(stderr, "smkey verify: %s: %s\n", path, smk_show(e.msg));
		goto out;
	}
	if (archive_cert_matches(der.data, der.len, v->att.key.spki.data, v->att.key.spki.len, &e) <
	    0) {
		printf("  FAILED  certificate %s (%s): %s\n", smk_show(subject), path,
		       smk_show(e.msg));
		fflush(stdout);
		fprintf(stderr, "smkey verify: certificate %s: %s\n", path, smk_show(e.msg));
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

int cmd_verify(int argc, char **argv)
{
	const char *bundle = NULL, *trust_dir = NULL, *cert = NULL;
	trust_store trust = TRUST_STORE_INIT;
	smk_buf in = SMK_BUF_INIT;
	archive_verified v;
	struct stat st;
	smk_err e;
	int i, rc;

	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--trust") == 0 && i + 1 < argc) {
			trust_dir = argv[++i];
		} else if (strcmp(argv[i], "--certificate") == 0 && i + 1 < argc) {
			cert = argv[++i];
		} else if (strcmp(argv[i], "-h") == 0 || strcmp(argv[i], "--help") == 0) {
			usage(stdout);
			return 0;
		} else if ((argv[i][0] != '-' || strcmp(argv[i], "-") == 0) && !bundle) {
			bundle = argv[i];
		} else {
			usage(stderr);
			return 2;
		}
	}
	if (!bundle) {
		usage(stderr);
		return 2;
	}
	if (!trust_dir) {
		if (stat(DEFAULT_TRUST, &st) != 0) {
			fprintf(stderr, "smkey verify: no --trust DIR and no %s\n", DEFAULT_TRUST);
			return 2;
		}
		trust_dir = DEFAULT_TRUST;
	}
	if (trust_load_dir(&trust, trust_dir, &e) < 0) {
		fprintf(stderr, "smkey verify: trust anchors %s: %s\n", trust_dir, smk_show(e.msg));
		return 2;
	}
	if (read_input(bundle, &in) < 0) {
		fprintf(stderr, "smkey verify: cannot read %s\n", bundle);
		trust_free(&trust);
		smk_buf_free(&in);
		return 2;
	}
	printf("smkey verify: %s (trust anchors %s)\n", bundle, trust_dir);
	rc = archive_verify_bundle(in.data, in.len, &trust, held, NULL, &v, &e);
	if (rc == 0) {
		summary(&v);
		if (cert) {
			printf("\n");
			rc = check_certificate(cert, &v);
		}
		archive_verified_free(&v);
		if (rc)
			goto done;
	} else {
		printf("  FAILED  %s\n", smk_show(e.msg));
		fflush(stdout);
		fprintf(stderr, "smkey verify: NOT VERIFIED: %s\n", smk_show(e.msg));
	}
	rc = rc == 0 ? 0 : 1;
done:
	trust_free(&trust);
	smk_buf_free(&in);
	return rc;
}
