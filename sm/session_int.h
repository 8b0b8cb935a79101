/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * Inside the card session, shared by sm/session.c (lifecycle, handshake,
 * the send paths, recovery) and sm/session_keys.c (the key operations).
 * Not for any other module: they use sm/session.h.
 */
#ifndef SMK_SESSION_INT_H
#define SMK_SESSION_INT_H

#include "session.h"
#include "smsg.h"

struct smk_session {
	smk_transport *t;
	session_config cfg;
	bool up;	 /* SM established (and PIN verified when configured) */
	bool need_reset; /* reset the card before the next handshake */
	smsg_ctx *sm;
	bool have_chain;
	devaut_chain chain;
	hsm_fcp fcp;
	unsigned opens;
	/* What the card holds, from the last ENUMERATE in this SM session and
	 * kept current by our own GAKP / UPDATE / DELETE: valid only while
	 * objs_opens == opens. The reader is held exclusively (sm/pcsc.c), and
	 * on genuine firmware a plain APDU from anyone would end our SM session
	 * (ref §5.8), so within one session the card changes only through us; a
	 * new handshake means "look again". Bit i of key_ids: CC|i exists; of
	 * prkd_ids: C4|i exists. */
	bool objs_valid;
	unsigned objs_opens;
	uint8_t key_ids[32];
	uint8_t prkd_ids[32];
	/* per operation: commands the card answered, and whether the failure
	 * happened before the card executed anything of it */
	unsigned op_cmds;
	bool op_unseen;
	bool cmd_unseen; /* the last session_send_sm failed with a reset before any
			    answer: the card never saw that command */
	/* the last PIN the card refused, so it is not offered again */
	bool pin_refused;
	uint8_t refused_hash[32];
	unsigned refused_tries;
};

const char *session_card_name(const smk_session *s);
unsigned session_apdu_timeout(const smk_session *s);
unsigned session_keygen_timeout(const smk_session *s);

/* The one way an operation's command reaches the card: protected, the
 * answer unprotected; *sw is the card's status word from DO99. Transport
 * and SM failures take the session down. */
int session_send_sm(smk_session *s, const apdu *plain, unsigned timeout_ms, const char *what,
		    smk_buf *data, uint16_t *sw, smk_err *e);

/* After session_send_sm failed: may the card have executed that command (it
 * left the host, and no reset before any answer says it never arrived)? */
bool session_cmd_may_have_run(const smk_session *s);

/* Chunked READ BINARY of fid under SM, at most max bytes, appended to out. */
int session_read_protected(smk_session *s, uint16_t fid, size_t max, smk_buf *out, smk_err *e);

typedef int (*session_op_fn)(smk_session *s, void *arg, smk_err *e);

/* Bring the session up, run fn once, and once more after a fresh handshake
 * if the card had lost the session before it executed any of fn's
 * commands. Every other failure goes back to the caller, with "card X:
 * what" in front. */
int session_run_op(smk_session *s, const char *what, session_op_fn fn, void *arg, smk_err *e);

/* A CE|id holds one authenticated request or certificate. */
#define SESSION_CE_MAX 8192

/* Within an operation (sm/session_keys.c): ENUMERATE OBJECTS now and take
 * it as the session's picture of the card; then what that picture says. */
int session_enumerate(smk_session *s, smk_err *e);
bool session_objs_known(const smk_session *s);
bool session_has_key(const smk_session *s, uint8_t key_id);
bool session_has_prkd(const smk_session *s, uint8_t key_id);
/* DELETE FILE fid (a missing file is fine when missing_ok), and a chunked
 * UPDATE BINARY of a whole EF; both keep the picture current. */
int session_delete_ef(smk_session *s, uint16_t fid, bool missing_ok, smk_err *e);
int session_write_ef(smk_session *s, uint16_t fid, const uint8_t *content, size_t len, smk_err *e);

#endif
