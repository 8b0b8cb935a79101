/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The varlink wire format, shared by smkeyd and smkey (docs/varlink.md).
 *
 * Every message is one JSON object followed by a NUL byte. A call is
 *   {"method": "io.smkeyd.Generate", "parameters": {...}, "more": true}
 * and a reply carries "parameters" (with "continues": true while more
 * replies follow) or "error" plus the error's "parameters".
 *
 * Bytes from the socket are hostile: the reader bounds the size of a message
 * (and of a stream without a NUL), the nesting depth, and lets jansson check
 * the JSON and its UTF-8 before anything looks inside.
 */
#ifndef SMK_VARLINK_H
#define SMK_VARLINK_H

#include <jansson.h>
#include <stddef.h>

#include "common/buf.h"
#include "common/err.h"

#define VARLINK_MAX_DEPTH 32   /* nested objects/arrays in one message */
#define VARLINK_MAX_METHOD 255 /* "interface.Method" in bytes */
#define VARLINK_DEFAULT_MAX_MESSAGE 65536

/* The largest message a client sends as Sign's `data` (docs/pkcs11.md
 * "Large messages"): base64 makes 4 characters of 3 bytes, so 32 KiB is
 * 43,692 characters, which leaves the call around them some 20 KiB of the
 * default message size. Beyond it smkey sign and the PKCS#11 module send
 * the message's SHA-256 as `digest` with ecdsa instead. */
#define VARLINK_SIGN_DATA_MAX (32u * 1024)
_Static_assert((VARLINK_SIGN_DATA_MAX + 2) / 3 * 4 + 4096 <= VARLINK_DEFAULT_MAX_MESSAGE,
	       "Sign's data in base64 and its call fit the default message size");

/* The interface descriptions served by GetInterfaceDescription:
 * proto/io.smkeyd.varlink and proto/org.varlink.service.varlink byte for
 * byte, generated at build time into the build tree's proto/interface.c (the
 * error names go to varlink_errors.h; see proto/gen/varlink_gen.c). */
extern const char varlink_interface_io_smkeyd[];
extern const char varlink_interface_org_varlink_service[];

/* Incremental reader: feed it bytes as they come, take whole messages out. */
typedef struct varlink_reader {
	smk_buf buf;	/* received bytes not yet returned as messages */
	size_t scanned; /* buf[0..scanned) holds no NUL */
	size_t max;	/* largest message, without its NUL */
} varlink_reader;

void varlink_reader_init(varlink_reader *r, size_t max_message);
void varlink_reader_free(varlink_reader *r);
/* Append n received bytes. -1 only when out of memory. Callers bound how much
 * they feed between calls to varlink_reader_next (the server reads in chunks). */
int varlink_reader_feed(varlink_reader *r, const void *p, size_t n, smk_err *e);
/* The next complete message as a JSON object (caller owns it): 1 and *msg,
 * 0 when more bytes are needed, -1 when the stream is malformed (too long, not
 * JSON, not an object, too deep, invalid UTF-8, "\u0000" in a string). After
 * -1 the stream cannot be resynchronised: answer and close. */
int varlink_reader_next(varlink_reader *r, json_t **msg, smk_err *e);
/* Bytes held that are not yet part of a returned message. */
size_t varlink_reader_pending(const varlink_reader *r);

/* Parse one message text (no NUL) with the same checks as the reader. */
int varlink_parse(const char *text, size_t len, json_t **msg, smk_err *e);

/* A decoded call. Pointers borrow from the message object. */
typedef struct varlink_call {
	const char *method;			/* "io.smkeyd.Generate" */
	char interface[VARLINK_MAX_METHOD + 1]; /* "io.smkeyd" */
	const char *member;			/* "Generate" (points into method) */
	json_t *params;				/* always an object ({} when absent) */
	int more;
	int oneway;
	const char *invalid; /* on -1: the envelope field at fault ("method", ...) */
} varlink_call;

/* Check the call envelope: "method" a qualified name, "parameters" an object,
 * "more"/"oneway" booleans, "upgrade" refused, no unknown fields. The params
 * object is the message's own (or a new empty one the call owns: release with
 * varlink_call_clear). */
int varlink_call_decode(json_t *msg, varlink_call *call, smk_err *e);
void varlink_call_clear(varlink_call *call);

/* A decoded reply. Pointers borrow from the message object. */
typedef struct varlink_reply {
	const char *error; /* NULL, or the error name */
	json_t *params;	   /* always an object */
	int continues;
} varlink_reply;

int varlink_reply_decode(json_t *msg, varlink_reply *reply, smk_err *e);

/* Encoders append the message and its NUL to out. params may be NULL ({}). */
#define VARLINK_MORE 1
#define VARLINK_ONEWAY 2
int varlink_call_encode(smk_buf *out, const char *method, json_t *params, int flags, smk_err *e);
int varlink_reply_encode(smk_buf *out, json_t *params, int continues, smk_err *e);
int varlink_error_encode(smk_buf *out, const char *name, json_t *params, smk_err *e);
/* A final reply whose parameters object is given as compact JSON text (len
 * bytes, no NUL; the caller made it with json_dumps): the bytes
 * varlink_reply_encode(out, params, 0) would append for that object. */
int varlink_reply_encode_text(smk_buf *out, const char *params, size_t len, smk_err *e);

/* "io.smkeyd.Generate": the interface and member are dotted names. */
int varlink_method_valid(const char *method);

#endif
