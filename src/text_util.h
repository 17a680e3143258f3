/*
 * text_util.h
 *     Blank/trim over the Unicode White_Space set, SHA-256 helpers, and the
 *     jsonb member helpers every contract module uses.
 */
#ifndef DURABLE_SINK_TEXT_UTIL_H
#define DURABLE_SINK_TEXT_UTIL_H

#include "postgres.h"

#include "common/sha2.h"
#include "utils/jsonb.h"

/* contract §2 "blank" / "trimmed" */
extern bool text_is_blank(const char *s, int len);
extern bool texts_equal(const text *a, const text *b);
extern const char *text_trim(const char *s, int len, int *trimmed_len);

/* SHA-256 through pg_cryptohash */
extern void sha256_digest(const char *data, size_t len,
						  uint8 digest[PG_SHA256_DIGEST_LENGTH]);
extern char *sha256_hex(const char *data, size_t len);
extern bytea *sha256_key(const text *id);

/* jsonb member access */
extern bool jsonb_member(JsonbContainer *object, const char *key,
						 JsonbValue *out);
extern bool jbv_is_object(const JsonbValue *v);
extern bool jbv_is_array(const JsonbValue *v);
extern bool jbv_is_null(const JsonbValue *v);
extern bool jbv_string_equals(const JsonbValue *v, const char *literal);
extern bool jbv_as_count(const JsonbValue *v, uint64 *count);

/* jsonb object building (pushJsonbValue wrappers) */
extern void jsonb_build_key(JsonbParseState **state, const char *key);
extern void jsonb_build_string(JsonbParseState **state, const char *key,
							   const char *value, int len);
extern void jsonb_build_count(JsonbParseState **state, const char *key,
							  uint64 value);
extern Datum jsonb_build_finish(JsonbValue *result);

#endif							/* DURABLE_SINK_TEXT_UTIL_H */
