/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * p11bench MODULE LABEL COUNT [PIN]: signatures per second through a PKCS#11
 * module, the same way for every module, so that libsmkey-pkcs11.so and
 * OpenSC's opensc-pkcs11.so compare (tests/bench/run p11sign). Loads the
 * module, opens one session on the first slot with a token, logs in when a
 * PIN is given, finds the private key labelled LABEL, then signs COUNT
 * different 64-byte messages with CKM_ECDSA_SHA256 (C_SignInit + C_Sign each)
 * and prints one JSON line: signatures, seconds, signatures per second.
 * Only the signing loop is timed: loading, login and search are not.
 */
#include <dlfcn.h>
#include <p11-kit/pkcs11.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

static double now(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static int fail(const char *what, CK_RV rv)
{
	fprintf(stderr, "p11bench: %s: CKR 0x%lx\n", what, (unsigned long)rv);
	return 1;
}

int main(int argc, char **argv)
{
	CK_RV (*get)(CK_FUNCTION_LIST_PTR_PTR);
	CK_FUNCTION_LIST *f;
	CK_SLOT_ID slots[16];
	CK_ULONG nslots = 16, n = 0, siglen;
	CK_SESSION_HANDLE s;
	CK_OBJECT_HANDLE key;
	CK_OBJECT_CLASS cls = CKO_PRIVATE_KEY;
	CK_MECHANISM m = {CKM_ECDSA_SHA256, NULL, 0};
	CK_BYTE msg[64], sig[512];
	CK_RV rv;
	double t0, t1;
	long i, count;
	void *mod;

	if (argc < 4 || argc > 5) {
		fprintf(stderr, "usage: p11bench MODULE LABEL COUNT [PIN]\n");
		return 2;
	}
	count = strtol(argv[3], NULL, 10);
	CK_ATTRIBUTE t[] = {{CKA_CLASS, &cls, sizeof(cls)}, {CKA_LABEL, argv[2], strlen(argv[2])}};
	mod = dlopen(argv[1], RTLD_NOW | RTLD_LOCAL);
	if (!mod || count <= 0) {
		fprintf(stderr, "p11bench: %s: %s\n", argv[1],
			mod ? "COUNT must be > 0" : dlerror());
		return 1;
	}
	*(void **)&get = dlsym(mod, "C_GetFunctionList");
	if (!get || get(&f) != CKR_OK)
		return fail("C_GetFunctionList", CKR_GENERAL_ERROR);
	if ((rv = f->C_Initialize(NULL)) != CKR_OK)
		return fail("C_Initialize", rv);
	if ((rv = f->C_GetSlotList(CK_TRUE, slots, &nslots)) != CKR_OK || nslots == 0)
		return fail("C_GetSlotList (no token)", rv);
	if ((rv = f->C_OpenSession(slots[0], CKF_SERIAL_SESSION, NULL, NULL, &s)) != CKR_OK)
		return fail("C_OpenSession", rv);
	if (argc == 5 &&
	    (rv = f->C_Login(s, CKU_USER, (CK_UTF8CHAR_PTR)argv[4], strlen(argv[4]))) != CKR_OK)
		return fail("C_Login", rv);
	if ((rv = f->C_FindObjectsInit(s, t, 2)) != CKR_OK ||
	    (rv = f->C_FindObjects(s, &key, 1, &n)) != CKR_OK || n != 1 ||
	    (rv = f->C_FindObjectsFinal(s)) != CKR_OK)
		return fail("no private key with that label", rv);
	t0 = now();
	for (i = 0; i < count; i++) {
		memset(msg, (int)(i & 0xff), sizeof(msg));
		snprintf((char *)msg, sizeof(msg), "p11bench message %ld", i);
		siglen = sizeof(sig);
		if ((rv = f->C_SignInit(s, &m, key)) != CKR_OK)
			return fail("C_SignInit", rv);
		if ((rv = f->C_Sign(s, msg, sizeof(msg), sig, &siglen)) != CKR_OK)
			return fail("C_Sign", rv);
	}
	t1 = now();
	printf("{\"signatures\":%ld,\"seconds\":%.4f,\"per_s\":%.3f}\n", count, t1 - t0,
	       (double)count / (t1 - t0));
	f->C_CloseSession(s);
	f->C_Finalize(NULL);
	return 0;
}
