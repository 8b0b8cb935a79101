/* SPDX-License-Identifier: BSD-3-Clause */
/*
 * The function list of libsmkey-pkcs11.so, and the PKCS#11 functions the
 * module does not offer: it signs, and nothing else (no key creation, no
 * encryption, no verification: clients verify with the public key they
 * read, docs/pkcs11.md).
 */
#include "p11.h"

#define P11_UNUSED __attribute__((unused))

static CK_RV unsupported(void)
{
	return p11_initialized() ? CKR_FUNCTION_NOT_SUPPORTED : CKR_CRYPTOKI_NOT_INITIALIZED;
}

P11_EXPORT CK_RV C_WaitForSlotEvent(CK_FLAGS flags P11_UNUSED, CK_SLOT_ID *slot P11_UNUSED,
				    void *reserved P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_InitToken(CK_SLOT_ID slot_id P11_UNUSED, CK_BYTE *pin P11_UNUSED,
			     CK_ULONG pin_len P11_UNUSED, CK_BYTE *label P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_InitPIN(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *pin P11_UNUSED,
			   CK_ULONG pin_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SetPIN(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *old_pin P11_UNUSED,
			  CK_ULONG old_len P11_UNUSED, CK_BYTE *new_pin P11_UNUSED,
			  CK_ULONG new_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GetOperationState(CK_SESSION_HANDLE session P11_UNUSED,
				     CK_BYTE *operation_state P11_UNUSED,
				     CK_ULONG *operation_state_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SetOperationState(CK_SESSION_HANDLE session P11_UNUSED,
				     CK_BYTE *operation_state P11_UNUSED,
				     CK_ULONG operation_state_len P11_UNUSED,
				     CK_OBJECT_HANDLE encryption_key P11_UNUSED,
				     CK_OBJECT_HANDLE authentication_key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_CreateObject(CK_SESSION_HANDLE session P11_UNUSED, CK_ATTRIBUTE *tmpl P11_UNUSED,
				CK_ULONG count P11_UNUSED, CK_OBJECT_HANDLE *object P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_CopyObject(CK_SESSION_HANDLE session P11_UNUSED,
			      CK_OBJECT_HANDLE object P11_UNUSED, CK_ATTRIBUTE *tmpl P11_UNUSED,
			      CK_ULONG count P11_UNUSED, CK_OBJECT_HANDLE *new_object P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DestroyObject(CK_SESSION_HANDLE session P11_UNUSED,
				 CK_OBJECT_HANDLE object P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GetObjectSize(CK_SESSION_HANDLE session P11_UNUSED,
				 CK_OBJECT_HANDLE object P11_UNUSED, CK_ULONG *size P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SetAttributeValue(CK_SESSION_HANDLE session P11_UNUSED,
				     CK_OBJECT_HANDLE object P11_UNUSED,
				     CK_ATTRIBUTE *tmpl P11_UNUSED, CK_ULONG count P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_EncryptInit(CK_SESSION_HANDLE session P11_UNUSED,
			       CK_MECHANISM *mechanism P11_UNUSED, CK_OBJECT_HANDLE key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Encrypt(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *data P11_UNUSED,
			   CK_ULONG data_len P11_UNUSED, CK_BYTE *encrypted_data P11_UNUSED,
			   CK_ULONG *encrypted_data_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_EncryptUpdate(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *part P11_UNUSED,
				 CK_ULONG part_len P11_UNUSED, CK_BYTE *encrypted_part P11_UNUSED,
				 CK_ULONG *encrypted_part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_EncryptFinal(CK_SESSION_HANDLE session P11_UNUSED,
				CK_BYTE *last_encrypted_part P11_UNUSED,
				CK_ULONG *last_encrypted_part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptInit(CK_SESSION_HANDLE session P11_UNUSED,
			       CK_MECHANISM *mechanism P11_UNUSED, CK_OBJECT_HANDLE key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Decrypt(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *encrypted_data P11_UNUSED,
			   CK_ULONG encrypted_data_len P11_UNUSED, CK_BYTE *data P11_UNUSED,
			   CK_ULONG *data_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptUpdate(CK_SESSION_HANDLE session P11_UNUSED,
				 CK_BYTE *encrypted_part P11_UNUSED,
				 CK_ULONG encrypted_part_len P11_UNUSED, CK_BYTE *part P11_UNUSED,
				 CK_ULONG *part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptFinal(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *last_part P11_UNUSED,
				CK_ULONG *last_part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestInit(CK_SESSION_HANDLE session P11_UNUSED,
			      CK_MECHANISM *mechanism P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Digest(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *data P11_UNUSED,
			  CK_ULONG data_len P11_UNUSED, CK_BYTE *digest P11_UNUSED,
			  CK_ULONG *digest_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestUpdate(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *part P11_UNUSED,
				CK_ULONG part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestKey(CK_SESSION_HANDLE session P11_UNUSED, CK_OBJECT_HANDLE key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestFinal(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *digest P11_UNUSED,
			       CK_ULONG *digest_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SignRecoverInit(CK_SESSION_HANDLE session P11_UNUSED,
				   CK_MECHANISM *mechanism P11_UNUSED,
				   CK_OBJECT_HANDLE key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SignRecover(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *data P11_UNUSED,
			       CK_ULONG data_len P11_UNUSED, CK_BYTE *signature P11_UNUSED,
			       CK_ULONG *signature_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyInit(CK_SESSION_HANDLE session P11_UNUSED,
			      CK_MECHANISM *mechanism P11_UNUSED, CK_OBJECT_HANDLE key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_Verify(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *data P11_UNUSED,
			  CK_ULONG data_len P11_UNUSED, CK_BYTE *signature P11_UNUSED,
			  CK_ULONG signature_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyUpdate(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *part P11_UNUSED,
				CK_ULONG part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyFinal(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *signature P11_UNUSED,
			       CK_ULONG signature_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyRecoverInit(CK_SESSION_HANDLE session P11_UNUSED,
				     CK_MECHANISM *mechanism P11_UNUSED,
				     CK_OBJECT_HANDLE key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_VerifyRecover(CK_SESSION_HANDLE session P11_UNUSED,
				 CK_BYTE *signature P11_UNUSED, CK_ULONG signature_len P11_UNUSED,
				 CK_BYTE *data P11_UNUSED, CK_ULONG *data_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DigestEncryptUpdate(CK_SESSION_HANDLE session P11_UNUSED,
				       CK_BYTE *part P11_UNUSED, CK_ULONG part_len P11_UNUSED,
				       CK_BYTE *encrypted_part P11_UNUSED,
				       CK_ULONG *encrypted_part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptDigestUpdate(CK_SESSION_HANDLE session P11_UNUSED,
				       CK_BYTE *encrypted_part P11_UNUSED,
				       CK_ULONG encrypted_part_len P11_UNUSED,
				       CK_BYTE *part P11_UNUSED, CK_ULONG *part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SignEncryptUpdate(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *part P11_UNUSED,
				     CK_ULONG part_len P11_UNUSED,
				     CK_BYTE *encrypted_part P11_UNUSED,
				     CK_ULONG *encrypted_part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DecryptVerifyUpdate(CK_SESSION_HANDLE session P11_UNUSED,
				       CK_BYTE *encrypted_part P11_UNUSED,
				       CK_ULONG encrypted_part_len P11_UNUSED,
				       CK_BYTE *part P11_UNUSED, CK_ULONG *part_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GenerateKey(CK_SESSION_HANDLE session P11_UNUSED,
			       CK_MECHANISM *mechanism P11_UNUSED, CK_ATTRIBUTE *tmpl P11_UNUSED,
			       CK_ULONG count P11_UNUSED, CK_OBJECT_HANDLE *key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GenerateKeyPair(
    CK_SESSION_HANDLE session P11_UNUSED, CK_MECHANISM *mechanism P11_UNUSED,
    CK_ATTRIBUTE *public_key_template P11_UNUSED, CK_ULONG public_key_attribute_count P11_UNUSED,
    CK_ATTRIBUTE *private_key_template P11_UNUSED, CK_ULONG private_key_attribute_count P11_UNUSED,
    CK_OBJECT_HANDLE *public_key P11_UNUSED, CK_OBJECT_HANDLE *private_key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_WrapKey(CK_SESSION_HANDLE session P11_UNUSED, CK_MECHANISM *mechanism P11_UNUSED,
			   CK_OBJECT_HANDLE wrapping_key P11_UNUSED,
			   CK_OBJECT_HANDLE key P11_UNUSED, CK_BYTE *wrapped_key P11_UNUSED,
			   CK_ULONG *wrapped_key_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_UnwrapKey(CK_SESSION_HANDLE session P11_UNUSED,
			     CK_MECHANISM *mechanism P11_UNUSED,
			     CK_OBJECT_HANDLE unwrapping_key P11_UNUSED,
			     CK_BYTE *wrapped_key P11_UNUSED, CK_ULONG wrapped_key_len P11_UNUSED,
			     CK_ATTRIBUTE *tmpl P11_UNUSED, CK_ULONG attribute_count P11_UNUSED,
			     CK_OBJECT_HANDLE *key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_DeriveKey(CK_SESSION_HANDLE session P11_UNUSED,
			     CK_MECHANISM *mechanism P11_UNUSED,
			     CK_OBJECT_HANDLE base_key P11_UNUSED, CK_ATTRIBUTE *tmpl P11_UNUSED,
			     CK_ULONG attribute_count P11_UNUSED, CK_OBJECT_HANDLE *key P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_SeedRandom(CK_SESSION_HANDLE session P11_UNUSED, CK_BYTE *seed P11_UNUSED,
			      CK_ULONG seed_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GenerateRandom(CK_SESSION_HANDLE session P11_UNUSED,
				  CK_BYTE *random_data P11_UNUSED, CK_ULONG random_len P11_UNUSED)
{
	return unsupported();
}

P11_EXPORT CK_RV C_GetFunctionStatus(CK_SESSION_HANDLE session P11_UNUSED)
{
	return p11_initialized() ? CKR_FUNCTION_NOT_PARALLEL : CKR_CRYPTOKI_NOT_INITIALIZED;
}

P11_EXPORT CK_RV C_CancelFunction(CK_SESSION_HANDLE session P11_UNUSED)
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
