/*
 * The archive key's built-in policy. It is written in the same canonical
 * document format as policy/ produces (docs/policy.md), so the archive key's
 * record 0 reads like any other record, but it is not loaded from a file: no
 * configuration can widen what the archive key may do.
 */
#include "archive.h"

#include <jansson.h>

#include "../sm/alg.h"
#include "internal.h"

int archive_key_policy(smk_buf *doc, smk_err *e)
{
	const smk_alg *alg = alg_by_name("ecdsa-sha256");
	char hex[3];
	json_t *o;
	int rc;

	if (!alg)
		return smk_fail(e, SMK_E_UNSUPPORTED,
				"archive key policy: no ecdsa-sha256 algorithm");
	archive_hex(&alg->id, 1, hex);
	/* sign-only: the card hashes (0x73), so only whole messages are signed, one
	 * algorithm, no wrap (never exported), no key domain */
	o = json_pack(
	    "{s:s, s:I, s:s, s:s, s:{s:s, s:s}, s:[{s:s, s:I}], s:s, s:n, s:n, s:b, "
	    "s:s, s:{s:[], s:[]}, s:n, s:n}",
	    "format", "smkeyd-policy", "version", (json_int_t)1, "name", ARCHIVE_KEY_POLICY_NAME,
	    "description", "smkeyd archive signing key: ECDSA-SHA256 only, never exported", "key",
	    "type", "ec", "curve", "secp256r1", "algorithms", "name", alg->name, "id",
	    (json_int_t)alg->id, "alg-list-hex", hex, "use-counter", "key-domain", "exportable", 0,
	    "label", "smkeyd-archive", "allow", "users", "groups", "max-keys", "devices");
	if (!o)
		return smk_fail(e, SMK_E_NOMEM, "archive key policy: cannot build the document");
	rc = archive_json_dump(o, doc, e);
	json_decref(o);
	return rc;
}
