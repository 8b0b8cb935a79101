/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The function list of libsmkey-pkcs11.so, and the PKCS#11 functions the
 * module does not offer: it signs, and nothing else (no key creation, no
 * encryption, no verification: clients verify with the public key they
 * read, docs/pkcs11.md).
 */
#include "p11.h"

/* Every stub here ignores its arguments: it only says the function is not
 * offered. */
#pragma GCC diagnostic ignored "-Wunused-parameter"

static CK_RV unsupported(void)
{
	return p11_initialized() ? CKR_FUNCTION_NOT_SUPPORTED : CKR_CRYPTOKI_NOT_INITIALIZED;
}

P11_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags, CK_SLOT_ID *slot, void *reserved)
{
	return unsupported();
}

P11_EXPORT CK_RV C_InitToken(CK_SLOT_ID slot_id, CK_BYTE *pin, CK_ULONG pin_len, CK_BYTE *label)
{
	return unsupported();
}

P11_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE session, CK_BYTE *pin, CK_ULONG pin_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE session, CK_BYTE *old_pin, CK_ULONG old_len,
			  CK_BYTE *new_pin, CK_ULONG new_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE session, CK_BYTE *operation_state,
				     CK_ULONG *operation_state_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE session, CK_BYTE *operation_state,
				     CK_ULONG operation_state_len, CK_OBJECT_HANDLE encryption_key,
				     CK_OBJECT_HANDLE authentication_key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE session, CK_ATTRIBUTE *tmpl, CK_ULONG count,
				CK_OBJECT_HANDLE *object)
{
	return unsupported();
}

P11_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
			      CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *new_object)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object, CK_ULONG *size)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE object,
				     CK_ATTRIBUTE *tmpl, CK_ULONG count)
{
	return unsupported();
}

P11_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			       CK_OBJECT_HANDLE key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE session, CK_BYTE *data, CK_ULONG data_len,
			   CK_BYTE *encrypted_data, CK_ULONG *encrypted_data_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE *part, CK_ULONG part_len,
				 CK_BYTE *encrypted_part, CK_ULONG *encrypted_part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE session, CK_BYTE *last_encrypted_part,
				CK_ULONG *last_encrypted_part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			       CK_OBJECT_HANDLE key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE session, CK_BYTE *encrypted_data,
			   CK_ULONG encrypted_data_len, CK_BYTE *data, CK_ULONG *data_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE session, CK_BYTE *encrypted_part,
				 CK_ULONG encrypted_part_len, CK_BYTE *part, CK_ULONG *part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE session, CK_BYTE *last_part,
				CK_ULONG *last_part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE session, CK_BYTE *data, CK_ULONG data_len,
			  CK_BYTE *digest, CK_ULONG *digest_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE session, CK_BYTE *part, CK_ULONG part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE session, CK_OBJECT_HANDLE key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE session, CK_BYTE *digest, CK_ULONG *digest_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
				   CK_OBJECT_HANDLE key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE session, CK_BYTE *data, CK_ULONG data_len,
			       CK_BYTE *signature, CK_ULONG *signature_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			      CK_OBJECT_HANDLE key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE session, CK_BYTE *data, CK_ULONG data_len,
			  CK_BYTE *signature, CK_ULONG signature_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE *part, CK_ULONG part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE session, CK_BYTE *signature,
			       CK_ULONG signature_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
				     CK_OBJECT_HANDLE key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE session, CK_BYTE *signature,
				 CK_ULONG signature_len, CK_BYTE *data, CK_ULONG *data_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE *part, CK_ULONG part_len,
				       CK_BYTE *encrypted_part, CK_ULONG *encrypted_part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE session, CK_BYTE *encrypted_part,
				       CK_ULONG encrypted_part_len, CK_BYTE *part,
				       CK_ULONG *part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE session, CK_BYTE *part, CK_ULONG part_len,
				     CK_BYTE *encrypted_part, CK_ULONG *encrypted_part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE session, CK_BYTE *encrypted_part,
				       CK_ULONG encrypted_part_len, CK_BYTE *part,
				       CK_ULONG *part_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			       CK_ATTRIBUTE *tmpl, CK_ULONG count, CK_OBJECT_HANDLE *key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GenerateKeyPair(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
				   CK_ATTRIBUTE *public_key_template,
				   CK_ULONG public_key_attribute_count,
				   CK_ATTRIBUTE *private_key_template,
				   CK_ULONG private_key_attribute_count,
				   CK_OBJECT_HANDLE *public_key, CK_OBJECT_HANDLE *private_key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			   CK_OBJECT_HANDLE wrapping_key, CK_OBJECT_HANDLE key,
			   CK_BYTE *wrapped_key, CK_ULONG *wrapped_key_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			     CK_OBJECT_HANDLE unwrapping_key, CK_BYTE *wrapped_key,
			     CK_ULONG wrapped_key_len, CK_ATTRIBUTE *tmpl, CK_ULONG attribute_count,
			     CK_OBJECT_HANDLE *key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE session, CK_MECHANISM *mechanism,
			     CK_OBJECT_HANDLE base_key, CK_ATTRIBUTE *tmpl,
			     CK_ULONG attribute_count, CK_OBJECT_HANDLE *key)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE session, CK_BYTE *seed, CK_ULONG seed_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE session, CK_BYTE *random_data,
				  CK_ULONG random_len)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE session)
{
	return p11_initialized() ? CKR_FUNCTION_NOT_PARALLEL : CKR_CRYPTOKI_NOT_INITIALIZED;
}

P11_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE session)
{
	return p11_initialized() ? CKR_FUNCTION_NOT_PARALLEL : CKR_CRYPTOKI_NOT_INITIALIZED;
}

static CK_FUNCTION_LIST p11_function_list = {
    {CRYPTOKI_VERSION_MAJOR, CRYPTOKI_VERSION_MINOR},
    C_Initialize,
    C_Finalize,
    C_GetInfo,
    C_GetFunctionList,
    C_GetSlotList,
    C_GetSlotInfo,
    C_GetTokenInfo,
    C_GetMechanismList,
    C_GetMechanismInfo,
    C_InitToken,
    C_InitPIN,
    C_SetPIN,
    C_OpenSession,
    C_CloseSession,
    C_CloseAllSessions,
    C_GetSessionInfo,
    C_GetOperationState,
    C_SetOperationState,
    C_Login,
    C_Logout,
    C_CreateObject,
    C_CopyObject,
    C_DestroyObject,
    C_GetObjectSize,
    C_GetAttributeValue,
    C_SetAttributeValue,
    C_FindObjectsInit,
    C_FindObjects,
    C_FindObjectsFinal,
    C_EncryptInit,
    C_Encrypt,
    C_EncryptUpdate,
    C_EncryptFinal,
    C_DecryptInit,
    C_Decrypt,
    C_DecryptUpdate,
    C_DecryptFinal,
    C_DigestInit,
    C_Digest,
    C_DigestUpdate,
    C_DigestKey,
    C_DigestFinal,
    C_SignInit,
    C_Sign,
    C_SignUpdate,
    C_SignFinal,
    C_SignRecoverInit,
    C_SignRecover,
    C_VerifyInit,
    C_Verify,
    C_VerifyUpdate,
    C_VerifyFinal,
    C_VerifyRecoverInit,
    C_VerifyRecover,
    C_DigestEncryptUpdate,
    C_DecryptDigestUpdate,
    C_SignEncryptUpdate,
    C_DecryptVerifyUpdate,
    C_GenerateKey,
    C_GenerateKeyPair,
    C_WrapKey,
    C_UnwrapKey,
    C_DeriveKey,
    C_SeedRandom,
    C_GenerateRandom,
    C_GetFunctionStatus,
    C_CancelFunction,
    C_WaitForSlotEvent,
};

P11_EXPORT CK_RV C_GetFunctionList(CK_FUNCTION_LIST_PTR_PTR ppFunctionList)
{
	if (!ppFunctionList)
		return CKR_ARGUMENTS_BAD;
	*ppFunctionList = &p11_function_list;
	return CKR_OK;
}
