/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The PKCS#11 v2.40 entry points of libsmkey-pkcs11.so (docs/pkcs11.md):
 * one slot with one token standing for smkeyd, sessions, object search and
 * signing. Every entry point holds the module's lock while it touches the
 * sessions or the key list; a Sign waits for smkeyd without it, so threads
 * sign in parallel (smkeyd orders the card).
 */
#include "p11.h"

#include <openssl/evp.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>

#include "proto/varlink.h"

#define P11_SLOT 0

/* The DigestInfo prefix of a SHA-256 hash (RFC 8017, section 9.2, note 1). */
static const uint8_t sha256_digestinfo[] = {0x30, 0x31, 0x30, 0x0d, 0x06, 0x09, 0x60,
					    0x86, 0x48, 0x01, 0x65, 0x03, 0x04, 0x02,
					    0x01, 0x05, 0x00, 0x04, 0x20};

/* A host-hashed input the module passes on (a hash or a DigestInfo). */
#define P11_MAX_HASH_INPUT 512

typedef struct p11_session {
	CK_SESSION_HANDLE h;
	CK_FLAGS flags;
	struct p11_session *next;
	/* C_FindObjects */
	int finding;
	CK_OBJECT_HANDLE *found;
	size_t nfound, pos;
	/* C_Sign */
	int signing, busy;
	p11_key signer; /* seq, ec, bits and modulus.len of the key (no data) */
	CK_MECHANISM_TYPE mech;
	p11_mech_use use;
	smk_buf data;	/* the input while it is at most VARLINK_SIGN_DATA_MAX */
	int overflow;	/* more came: only md holds it */
	EVP_MD_CTX *md; /* SHA-256 of the message mechanisms' input */
} p11_session;

static struct {
	int init;
	/* the application's mutex functions, or NULL for pthread */
	CK_CREATEMUTEX create;
	CK_DESTROYMUTEX destroy;
	CK_LOCKMUTEX lockf;
	CK_UNLOCKMUTEX unlockf;
	void *appmutex;
	pthread_mutex_t mutex;
	p11_keys keys;
	int keys_loaded;
	p11_session *sessions;
	CK_SESSION_HANDLE next_session;
	int logged_in;
} g = {.mutex = PTHREAD_MUTEX_INITIALIZER};

static void lock(void)
{
	if (g.lockf)
		g.lockf(g.appmutex);
	else
		pthread_mutex_lock(&g.mutex);
}

static void unlock(void)
{
	if (g.unlockf)
		g.unlockf(g.appmutex);
	else
		pthread_mutex_unlock(&g.mutex);
}

/* Lock and check the module is initialised: CKR_OK with the lock held. */
static CK_RV enter(void)
{
	if (!g.init)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	lock();
	return CKR_OK;
}

static CK_RV leave(CK_RV rv)
{
	unlock();
	return rv;
}

int p11_initialized(void)
{
	return g.init;
}

/* Space-padded PKCS#11 text field. */
static void pad(CK_UTF8CHAR *dst, size_t size, const char *s)
{
	size_t n = strlen(s);

	memset(dst, ' ', size);
	memcpy(dst, s, n < size ? n : size);
}

/* ---- general ---- */

P11_EXPORT CK_RV C_Initialize(CK_VOID_PTR pInitArgs)
{
	CK_C_INITIALIZE_ARGS *a = pInitArgs;
	int given;

	if (g.init)
		return CKR_CRYPTOKI_ALREADY_INITIALIZED;
	g.create = NULL;
	g.destroy = NULL;
	g.lockf = NULL;
	g.unlockf = NULL;
	if (a) {
		if (a->pReserved)
			return CKR_ARGUMENTS_BAD;
		given = !!a->CreateMutex + !!a->DestroyMutex + !!a->LockMutex + !!a->UnlockMutex;
		if (given != 0 && given != 4)
			return CKR_ARGUMENTS_BAD;
		/* the application's functions only when it does not let us use
		 * the system's (CKF_OS_LOCKING_OK) */
		if (given == 4 && !(a->flags & CKF_OS_LOCKING_OK)) {
			if (a->CreateMutex(&g.appmutex) != CKR_OK)
				return CKR_CANT_LOCK;
			g.create = a->CreateMutex;
			g.destroy = a->DestroyMutex;
			g.lockf = a->LockMutex;
			g.unlockf = a->UnlockMutex;
		}
	}
	g.keys_loaded = 0;
	g.sessions = NULL;
	g.next_session = 1;
	g.logged_in = 0;
	g.init = 1;
	return CKR_OK;
}

static void session_end_ops(p11_session *s)
{
	free(s->found);
	s->found = NULL;
	s->finding = 0;
	s->signing = 0;
	smk_buf_free(&s->data);
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
}

P11_EXPORT CK_RV C_Finalize(CK_VOID_PTR pReserved)
{
	p11_session *s;

	if (pReserved)
		return CKR_ARGUMENTS_BAD;
	if (!g.init)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	lock();
	while ((s = g.sessions) != NULL) {
		g.sessions = s->next;
		session_end_ops(s);
		free(s);
	}
	p11_keys_free(&g.keys);
	g.init = 0;
	unlock();
	if (g.destroy)
		g.destroy(g.appmutex);
	g.lockf = NULL;
	g.unlockf = NULL;
	g.destroy = NULL;
	return CKR_OK;
}

P11_EXPORT CK_RV C_GetInfo(CK_INFO_PTR pInfo)
{
	if (!g.init)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	memset(pInfo, 0, sizeof(*pInfo));
	pInfo->cryptokiVersion.major = 2;
	pInfo->cryptokiVersion.minor = 40;
	pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "smkeyd");
	pad(pInfo->libraryDescription, sizeof(pInfo->libraryDescription),
	    "smkeyd signing keys (PKCS#11)");
	pInfo->libraryVersion.major = 0;
	pInfo->libraryVersion.minor = 1;
	return CKR_OK;
}

/* ---- slot and token ---- */

/* What every slot query checks first: initialised, our slot, an output. */
static CK_RV slot_check(CK_SLOT_ID slot, const void *out)
{
	if (!g.init)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (slot != P11_SLOT)
		return CKR_SLOT_ID_INVALID;
	return out ? CKR_OK : CKR_ARGUMENTS_BAD;
}

/* A slot query that describes the slot or its token: checked, then the
 * output (size bytes) cleared and filled. */
static CK_RV slot_describe(CK_SLOT_ID slot, void *out, size_t size, void (*fill)(void *out))
{
	CK_RV rv = slot_check(slot, out);

	if (rv != CKR_OK)
		return rv;
	memset(out, 0, size);
	fill(out);
	return CKR_OK;
}

P11_EXPORT CK_RV C_GetSlotList(CK_BBOOL tokenPresent, CK_SLOT_ID_PTR pSlotList,
			       CK_ULONG_PTR pulCount)
{
	(void)tokenPresent;
	if (!g.init)
		return CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!pulCount)
		return CKR_ARGUMENTS_BAD;
	if (pSlotList) {
		if (*pulCount < 1) {
			*pulCount = 1;
			return CKR_BUFFER_TOO_SMALL;
		}
		pSlotList[0] = P11_SLOT;
	}
	*pulCount = 1;
	return CKR_OK;
}

static void slot_info_fill(void *out)
{
	CK_SLOT_INFO *pInfo = out;

	pad(pInfo->slotDescription, sizeof(pInfo->slotDescription), "smkeyd socket");
	pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "smkeyd");
	pInfo->flags = CKF_TOKEN_PRESENT;
}

P11_EXPORT CK_RV C_GetSlotInfo(CK_SLOT_ID slotID, CK_SLOT_INFO_PTR pInfo)
{
	return slot_describe(slotID, pInfo, sizeof(*pInfo), slot_info_fill);
}

static void token_info_fill(void *out)
{
	CK_TOKEN_INFO *pInfo = out;

	pad(pInfo->label, sizeof(pInfo->label), "smkeyd");
	pad(pInfo->manufacturerID, sizeof(pInfo->manufacturerID), "smkeyd");
	pad(pInfo->model, sizeof(pInfo->model), "SmartCard-HSM");
	pad(pInfo->serialNumber, sizeof(pInfo->serialNumber), "smkeyd");
	/* no CKF_LOGIN_REQUIRED: smkeyd decides by the caller's uid (docs/pkcs11.md, "Login") */
	pInfo->flags = CKF_TOKEN_INITIALIZED | CKF_USER_PIN_INITIALIZED;
	pInfo->ulMaxSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulMaxRwSessionCount = CK_EFFECTIVELY_INFINITE;
	pInfo->ulSessionCount = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulRwSessionCount = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulMaxPinLen = 255;
	pInfo->ulMinPinLen = 0;
	pInfo->ulTotalPublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePublicMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulTotalPrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pInfo->ulFreePrivateMemory = CK_UNAVAILABLE_INFORMATION;
	pad(pInfo->utcTime, sizeof(pInfo->utcTime), "");
}

P11_EXPORT CK_RV C_GetTokenInfo(CK_SLOT_ID slotID, CK_TOKEN_INFO_PTR pInfo)
{
	return slot_describe(slotID, pInfo, sizeof(*pInfo), token_info_fill);
}

P11_EXPORT CK_RV C_GetMechanismList(CK_SLOT_ID slotID, CK_MECHANISM_TYPE_PTR pList,
				    CK_ULONG_PTR pulCount)
{
	CK_RV rv = slot_check(slotID, pulCount);
	size_t i;

	if (rv != CKR_OK)
		return rv;
	if (pList) {
		if (*pulCount < p11_nmechs) {
			*pulCount = p11_nmechs;
			return CKR_BUFFER_TOO_SMALL;
		}
		for (i = 0; i < p11_nmechs; i++)
			pList[i] = p11_mech(i);
	}
	*pulCount = p11_nmechs;
	return CKR_OK;
}

P11_EXPORT CK_RV C_GetMechanismInfo(CK_SLOT_ID slotID, CK_MECHANISM_TYPE type,
				    CK_MECHANISM_INFO_PTR pInfo)
{
	CK_RV rv = slot_check(slotID, pInfo);

	if (rv != CKR_OK)
		return rv;
	return p11_mech_info(type, pInfo);
}

/* ---- sessions ---- */

static p11_session *session_get(CK_SESSION_HANDLE h)
{
	p11_session *s;

	for (s = g.sessions; s; s = s->next)
		if (s->h == h)
			return s;
	return NULL;
}

/* Lock and find the session of a handle: CKR_OK with the lock held (and
 * the session in *out unless out is NULL), or why not (unlocked). */
static CK_RV session_enter(CK_SESSION_HANDLE h, p11_session **out)
{
	CK_RV rv = enter();
	p11_session *s;

	if (rv != CKR_OK)
		return rv;
	s = session_get(h);
	if (!s)
		return leave(CKR_SESSION_HANDLE_INVALID);
	if (out)
		*out = s;
	return CKR_OK;
}

P11_EXPORT CK_RV C_OpenSession(CK_SLOT_ID slotID, CK_FLAGS flags, CK_VOID_PTR pApplication,
			       CK_NOTIFY Notify, CK_SESSION_HANDLE_PTR phSession)
{
	p11_session *s;
	CK_RV rv;

	(void)pApplication;
	(void)Notify;
	if (slotID != P11_SLOT)
		return g.init ? CKR_SLOT_ID_INVALID : CKR_CRYPTOKI_NOT_INITIALIZED;
	if (!(flags & CKF_SERIAL_SESSION))
		return CKR_SESSION_PARALLEL_NOT_SUPPORTED;
	if (!phSession)
		return CKR_ARGUMENTS_BAD;
	if ((rv = enter()) != CKR_OK)
		return rv;
	s = calloc(1, sizeof(*s));
	if (!s)
		return leave(CKR_HOST_MEMORY);
	s->h = g.next_session++;
	s->flags = flags;
	s->next = g.sessions;
	g.sessions = s;
	*phSession = s->h;
	return leave(CKR_OK);
}

static void session_free(p11_session *s)
{
	p11_session **pp;

	for (pp = &g.sessions; *pp; pp = &(*pp)->next)
		if (*pp == s) {
			*pp = s->next;
			break;
		}
	session_end_ops(s);
	free(s);
	/* PKCS#11: the login state ends with the last session */
	if (!g.sessions)
		g.logged_in = 0;
}

P11_EXPORT CK_RV C_CloseSession(CK_SESSION_HANDLE hSession)
{
	p11_session *s;
	CK_RV rv;

	if ((rv = session_enter(hSession, &s)) != CKR_OK)
		return rv;
	if (s->busy)
		return leave(CKR_FUNCTION_FAILED);
	session_free(s);
	return leave(CKR_OK);
}

P11_EXPORT CK_RV C_CloseAllSessions(CK_SLOT_ID slotID)
{
	p11_session *s, *next;
	CK_RV rv;

	if ((rv = enter()) != CKR_OK)
		return rv;
	if (slotID != P11_SLOT)
		return leave(CKR_SLOT_ID_INVALID);
	for (s = g.sessions; s; s = next) {
		next = s->next;
		if (!s->busy)
			session_free(s);
	}
	return leave(CKR_OK);
}

P11_EXPORT CK_RV C_GetSessionInfo(CK_SESSION_HANDLE hSession, CK_SESSION_INFO_PTR pInfo)
{
	p11_session *s;
	CK_RV rv;

	if (!pInfo)
		return CKR_ARGUMENTS_BAD;
	if ((rv = session_enter(hSession, &s)) != CKR_OK)
		return rv;
	pInfo->slotID = P11_SLOT;
	pInfo->flags = s->flags;
	pInfo->ulDeviceError = 0;
	if (s->flags & CKF_RW_SESSION)
		pInfo->state = g.logged_in ? CKS_RW_USER_FUNCTIONS : CKS_RW_PUBLIC_SESSION;
	else
		pInfo->state = g.logged_in ? CKS_RO_USER_FUNCTIONS : CKS_RO_PUBLIC_SESSION;
	return leave(CKR_OK);
}

/* Any PIN, or none, logs in: the card's PIN is smkeyd's alone and smkeyd
 * decides who signs by the caller's uid (docs/pkcs11.md, "Login"). The
 * state is kept only because applications check it. */
P11_EXPORT CK_RV C_Login(CK_SESSION_HANDLE hSession, CK_USER_TYPE userType, CK_UTF8CHAR_PTR pPin,
			 CK_ULONG ulPinLen)
{
	CK_RV rv;

	(void)pPin;
	(void)ulPinLen;
	if ((rv = session_enter(hSession, NULL)) != CKR_OK)
		return rv;
	if (userType == CKU_CONTEXT_SPECIFIC)
		return leave(CKR_OK);
	if (userType != CKU_USER)
		return leave(CKR_USER_TYPE_INVALID);
	if (g.logged_in)
		return leave(CKR_USER_ALREADY_LOGGED_IN);
	g.logged_in = 1;
	return leave(CKR_OK);
}

P11_EXPORT CK_RV C_Logout(CK_SESSION_HANDLE hSession)
{
	CK_RV rv;

	if ((rv = session_enter(hSession, NULL)) != CKR_OK)
		return rv;
	if (!g.logged_in)
		return leave(CKR_USER_NOT_LOGGED_IN);
	g.logged_in = 0;
	return leave(CKR_OK);
}

/* ---- objects ---- */

/* Ask smkeyd for the caller's keys again (lock held). */
static CK_RV keys_refresh(void)
{
	json_t *msg, *params;
	p11_keys fresh;
	CK_RV rv = p11_call("io.smkeyd.ListSigningKeys", NULL, &msg, &params);

	if (rv != CKR_OK)
		return rv;
	rv = p11_keys_parse(params, &fresh);
	json_decref(msg);
	if (rv != CKR_OK)
		return rv;
	p11_keys_free(&g.keys);
	g.keys = fresh;
	g.keys_loaded = 1;
	return CKR_OK;
}

/* The key of an object handle and its class, asking smkeyd once more when
 * the handle is not in the list (lock held). */
static p11_key *object_get(CK_OBJECT_HANDLE h, int *cls)
{
	p11_key *k;

	*cls = P11_HANDLE_CLS(h);
	if (*cls == 0)
		return NULL;
	k = p11_keys_find(&g.keys, P11_HANDLE_SEQ(h));
	if (!k && keys_refresh() == CKR_OK)
		k = p11_keys_find(&g.keys, P11_HANDLE_SEQ(h));
	if (k && *cls == P11_OBJ_CERT && k->cert.len == 0)
		return NULL;
	return k;
}

P11_EXPORT CK_RV C_GetAttributeValue(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE hObject,
				     CK_ATTRIBUTE_PTR pTemplate, CK_ULONG ulCount)
{
	uint8_t scratch[64];
	const void *p;
	size_t n;
	p11_key *k;
	CK_ULONG i;
	CK_RV rv, one;
	int cls;

	if (!pTemplate && ulCount)
		return CKR_ARGUMENTS_BAD;
	if ((rv = session_enter(hSession, NULL)) != CKR_OK)
		return rv;
	k = object_get(hObject, &cls);
	if (!k)
		return leave(CKR_OBJECT_HANDLE_INVALID);
	for (i = 0; i < ulCount; i++) {
		CK_ATTRIBUTE *a = &pTemplate[i];

		one = p11_attr(k, cls, a->type, &p, &n, scratch);
		if (one != CKR_OK) {
			a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = one;
		} else if (!a->pValue) {
			a->ulValueLen = n;
		} else if (a->ulValueLen < n) {
			a->ulValueLen = CK_UNAVAILABLE_INFORMATION;
			rv = CKR_BUFFER_TOO_SMALL;
		} else {
			memcpy(a->pValue, p, n);
			a->ulValueLen = n;
		}
	}
	return leave(rv);
}

static int object_matches(const p11_key *k, int cls, CK_ATTRIBUTE_PTR t, CK_ULONG n)
{
	uint8_t scratch[64];
	const void *p;
	size_t len;
	CK_ULONG i;

	for (i = 0; i < n; i++) {
		if (p11_attr(k, cls, t[i].type, &p, &len, scratch) != CKR_OK ||
		    len != t[i].ulValueLen ||
		    (len && (!t[i].pValue || memcmp(p, t[i].pValue, len))))
			return 0;
	}
	return 1;
}

P11_EXPORT CK_RV C_FindObjectsInit(CK_SESSION_HANDLE hSession, CK_ATTRIBUTE_PTR pTemplate,
				   CK_ULONG ulCount)
{
	p11_session *s;
	size_t i;
	CK_RV rv;
	int cls;

	if (!pTemplate && ulCount)
		return CKR_ARGUMENTS_BAD;
	if ((rv = session_enter(hSession, &s)) != CKR_OK)
		return rv;
	if (s->finding)
		return leave(CKR_OPERATION_ACTIVE);
	/* every search sees smkeyd's list as it is now: keys come and go
	 * with policies and records */
	rv = keys_refresh();
	if (rv != CKR_OK)
		return leave(rv);
	s->found = calloc(3 * g.keys.n + 1, sizeof(*s->found));
	if (!s->found)
		return leave(CKR_HOST_MEMORY);
	s->nfound = 0;
	s->pos = 0;
	for (i = 0; i < g.keys.n; i++)
		for (cls = P11_OBJ_PRIVATE; cls <= P11_OBJ_CERT; cls++) {
			if (cls == P11_OBJ_CERT && g.keys.v[i].cert.len == 0)
				continue;
			if (object_matches(&g.keys.v[i], cls, pTemplate, ulCount))
				s->found[s->nfound++] = P11_HANDLE(g.keys.v[i].seq, cls);
		}
	s->finding = 1;
	return leave(CKR_OK);
}

/* The session of a FindObjects call, locked, with a search: CKR_OK or why
 * not (unlocked). */
static CK_RV find_session(CK_SESSION_HANDLE h, p11_session **out)
{
	CK_RV rv = session_enter(h, out);

	if (rv == CKR_OK && !(*out)->finding)
		rv = leave(CKR_OPERATION_NOT_INITIALIZED);
	return rv;
}

P11_EXPORT CK_RV C_FindObjects(CK_SESSION_HANDLE hSession, CK_OBJECT_HANDLE_PTR phObject,
			       CK_ULONG ulMaxObjectCount, CK_ULONG_PTR pulObjectCount)
{
	p11_session *s;
	CK_ULONG c = 0;
	CK_RV rv;

	if (!pulObjectCount || (!phObject && ulMaxObjectCount))
		return CKR_ARGUMENTS_BAD;
	if ((rv = find_session(hSession, &s)) != CKR_OK)
		return rv;
	while (c < ulMaxObjectCount && s->pos < s->nfound)
		phObject[c++] = s->found[s->pos++];
	*pulObjectCount = c;
	return leave(CKR_OK);
}

P11_EXPORT CK_RV C_FindObjectsFinal(CK_SESSION_HANDLE hSession)
{
	p11_session *s;
	CK_RV rv;

	if ((rv = find_session(hSession, &s)) != CKR_OK)
		return rv;
	free(s->found);
	s->found = NULL;
	s->finding = 0;
	return leave(CKR_OK);
}

/* ---- signing ---- */

static void sign_end(p11_session *s)
{
	s->signing = 0;
	smk_buf_free(&s->data);
	EVP_MD_CTX_free(s->md);
	s->md = NULL;
	s->overflow = 0;
}

P11_EXPORT CK_RV C_SignInit(CK_SESSION_HANDLE hSession, CK_MECHANISM_PTR pMechanism,
			    CK_OBJECT_HANDLE hKey)
{
	p11_session *s;
	p11_key *k;
	CK_RV rv;
	int cls;

	if (!pMechanism)
		return CKR_ARGUMENTS_BAD;
	if ((rv = session_enter(hSession, &s)) != CKR_OK)
		return rv;
	if (s->signing)
		return leave(CKR_OPERATION_ACTIVE);
	k = object_get(hKey, &cls);
	if (!k || cls != P11_OBJ_PRIVATE)
		return leave(CKR_KEY_HANDLE_INVALID);
	rv = p11_mech_use_for(k, pMechanism, &s->use);
	if (rv != CKR_OK)
		return leave(rv);
	memset(&s->signer, 0, sizeof(s->signer));
	s->signer.seq = k->seq;
	s->signer.ec = k->ec;
	s->signer.bits = k->bits;
	s->signer.modulus.len = k->modulus.len;
	s->mech = pMechanism->mechanism;
	s->overflow = 0;
	smk_buf_init(&s->data);
	if (s->use.message) {
		s->md = EVP_MD_CTX_new();
		if (!s->md || EVP_DigestInit_ex(s->md, EVP_sha256(), NULL) != 1) {
			sign_end(s);
			return leave(CKR_HOST_MEMORY);
		}
	}
	s->signing = 1;
	return leave(CKR_OK);
}

/* More input for the operation (lock held). */
static CK_RV sign_add(p11_session *s, const uint8_t *p, size_t n)
{
	if (!p && n)
		return CKR_ARGUMENTS_BAD;
	if (!s->use.message) {
		if (s->data.len + n > P11_MAX_HASH_INPUT)
			return CKR_DATA_LEN_RANGE;
		return smk_buf_add(&s->data, p, n) == 0 ? CKR_OK : CKR_HOST_MEMORY;
	}
	if (n && EVP_DigestUpdate(s->md, p, n) != 1)
		return CKR_FUNCTION_FAILED;
	if (s->overflow)
		return CKR_OK;
	if (s->data.len + n > VARLINK_SIGN_DATA_MAX) {
		/* too large to send: from here only the hash counts */
		s->overflow = 1;
		smk_buf_free(&s->data);
		return CKR_OK;
	}
	return smk_buf_add(&s->data, p, n) == 0 ? CKR_OK : CKR_HOST_MEMORY;
}

/* What a host-hashed input must be for the mechanism. */
static int hash_input_ok(const p11_session *s, size_t n)
{
	switch (s->mech) {
	case CKM_ECDSA:
		return n >= 20 && n <= 64;
	case CKM_RSA_PKCS:
		return n > 0 && n + 11 <= s->signer.modulus.len;
	default: /* CKM_RSA_PKCS_PSS, SHA-256 only */
		return n == 32;
	}
}

/* The end of a sign operation: send what smkeyd needs, write the
 * signature. Called with the lock held and s->signing; returns with the
 * lock held; the operation ends unless the caller only asked the length or
 * gave too small a buffer. */
static CK_RV sign_finish(p11_session *s, CK_BYTE_PTR sig, CK_ULONG_PTR siglen)
{
	size_t need = p11_sig_len(&s->signer), n;
	uint8_t in[sizeof(sha256_digestinfo) + 32], *out;
	const uint8_t *send = s->data.data;
	unsigned alg;
	int hashed;
	p11_key signer;
	smk_buf data;
	CK_RV rv;

	if (!siglen)
		return CKR_ARGUMENTS_BAD;
	if (!sig) {
		*siglen = need;
		return CKR_OK;
	}
	if (*siglen < need) {
		*siglen = need;
		return CKR_BUFFER_TOO_SMALL;
	}
	n = s->data.len;
	if (!s->use.message) {
		alg = s->use.alg_hash;
		hashed = 1;
		if (!hash_input_ok(s, n)) {
			sign_end(s);
			return CKR_DATA_LEN_RANGE;
		}
	} else if (s->use.alg_data && !s->overflow) {
		alg = s->use.alg_data;
		hashed = 0;
	} else if (s->use.alg_hash) {
		/* the message is too large to send, or the key lists only
		 * the host-hashed algorithm: the module hashes */
		unsigned int mdlen = 0;
		size_t off = s->use.alg_hash == P11_ALG_RSA_PKCS1 ? sizeof(sha256_digestinfo) : 0;

		memcpy(in, sha256_digestinfo, off);
		if (EVP_DigestFinal_ex(s->md, in + off, &mdlen) != 1 || mdlen != 32) {
			sign_end(s);
			return CKR_FUNCTION_FAILED;
		}
		alg = s->use.alg_hash;
		hashed = 1;
		send = in;
		n = off + mdlen;
	} else {
		p11_debug("Sign: message over %u bytes and key %lld lists no host-hashed "
			  "algorithm",
			  VARLINK_SIGN_DATA_MAX, s->signer.seq);
		sign_end(s);
		return CKR_DATA_LEN_RANGE;
	}
	/* smkeyd and the card take their time: without the lock, with the
	 * session marked busy and its input kept */
	signer = s->signer;
	data = s->data; /* send may point into it */
	smk_buf_init(&s->data);
	out = malloc(need ? need : 1);
	if (!out) {
		smk_buf_free(&data);
		sign_end(s);
		return CKR_HOST_MEMORY;
	}
	s->busy = 1;
	unlock();
	rv = p11_sign_call(&signer, alg, hashed, send ? send : (const uint8_t *)"", n, out);
	lock();
	s->busy = 0;
	if (rv == CKR_OK) {
		memcpy(sig, out, need);
		*siglen = need;
	}
	free(out);
	smk_buf_free(&data);
	sign_end(s);
	return rv;
}

/* The session of a sign call, locked, with an operation: CKR_OK or why not. */
static CK_RV sign_session(CK_SESSION_HANDLE h, p11_session **out)
{
	CK_RV rv = session_enter(h, out);

	if (rv != CKR_OK)
		return rv;
	if (!(*out)->signing)
		return leave(CKR_OPERATION_NOT_INITIALIZED);
	if ((*out)->busy)
		return leave(CKR_OPERATION_ACTIVE);
	return CKR_OK;
}

P11_EXPORT CK_RV C_Sign(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pData, CK_ULONG ulDataLen,
			CK_BYTE_PTR pSignature, CK_ULONG_PTR pulSignatureLen)
{
	p11_session *s;
	CK_RV rv = sign_session(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	if (!pulSignatureLen || (!pData && ulDataLen)) {
		sign_end(s);
		return leave(CKR_ARGUMENTS_BAD);
	}
	/* a length query or a short buffer keeps the operation and its input */
	if (!pSignature || *pulSignatureLen < p11_sig_len(&s->signer))
		return leave(sign_finish(s, pSignature, pulSignatureLen));
	rv = sign_add(s, pData, ulDataLen);
	if (rv != CKR_OK) {
		sign_end(s);
		return leave(rv);
	}
	return leave(sign_finish(s, pSignature, pulSignatureLen));
}

P11_EXPORT CK_RV C_SignUpdate(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pPart, CK_ULONG ulPartLen)
{
	p11_session *s;
	CK_RV rv = sign_session(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	rv = sign_add(s, pPart, ulPartLen);
	if (rv != CKR_OK)
		sign_end(s);
	return leave(rv);
}

P11_EXPORT CK_RV C_SignFinal(CK_SESSION_HANDLE hSession, CK_BYTE_PTR pSignature,
			     CK_ULONG_PTR pulSignatureLen)
{
	p11_session *s;
	CK_RV rv = sign_session(hSession, &s);

	if (rv != CKR_OK)
		return rv;
	return leave(sign_finish(s, pSignature, pulSignatureLen));
}
