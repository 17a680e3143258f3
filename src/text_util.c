/*
 * text_util.c
 *     Shared helpers: blank/trim over the Unicode White_Space set (contract §2),
 *     SHA-256 through PostgreSQL's pg_cryptohash, jsonb member access, and
 *     small pushJsonbValue wrappers.
 */
#include "postgres.h"

#include <inttypes.h>

#include "common/cryptohash.h"
#include "mb/pg_wchar.h"
#include "utils/builtins.h"
#include "utils/fmgrprotos.h"
#include "utils/numeric.h"

#include "text_util.h"

/*
 * Byte length of the White_Space character that starts at p, or 0.  Only
 * called on UTF-8 text.  The set is the one Rust's char::is_whitespace uses:
 * U+0009–U+000D, U+0020, U+0085, U+00A0, U+1680, U+2000–U+200A, U+2028,
 * U+2029, U+202F, U+205F, U+3000.
 */
static int
utf8_space_len(const unsigned char *p, int avail)
{
	unsigned char c = p[0];

	if (c < 0x80)
		return (c == 0x20 || (c >= 0x09 && c <= 0x0D)) ? 1 : 0;
	if (c == 0xC2 && avail >= 2)
		return (p[1] == 0x85 || p[1] == 0xA0) ? 2 : 0;
	if (avail < 3)
		return 0;
	if (c == 0xE1)
		return (p[1] == 0x9A && p[2] == 0x80) ? 3 : 0;
	if (c == 0xE2 && p[1] == 0x80)
		return ((p[2] >= 0x80 && p[2] <= 0x8A) || p[2] == 0xA8 ||
				p[2] == 0xA9 || p[2] == 0xAF) ? 3 : 0;
	if (c == 0xE2 && p[1] == 0x81)
		return p[2] == 0x9F ? 3 : 0;
	if (c == 0xE3)
		return (p[1] == 0x80 && p[2] == 0x80) ? 3 : 0;
	return 0;
}

/* Byte length of the White_Space character that ends just before end, or 0. */
static int
utf8_space_len_before(const unsigned char *start, const unsigned char *end)
{
	int			avail = end - start;
	int			n;

	/* White_Space characters are 1, 2 or 3 bytes long in UTF-8. */
	for (n = 1; n <= 3 && n <= avail; n++)
	{
		if (utf8_space_len(end - n, n) == n)
			return n;
	}
	return 0;
}

/* Trim UTF-8 text in place: returns the start, sets *trimmed_len. */
static const char *
utf8_trim(const char *s, int len, int *trimmed_len)
{
	const unsigned char *p = (const unsigned char *) s;
	const unsigned char *end = p + len;
	int			n;

	while (p < end && (n = utf8_space_len(p, end - p)) > 0)
		p += n;
	while (end > p && (n = utf8_space_len_before(p, end)) > 0)
		end -= n;
	*trimmed_len = end - p;
	return (const char *) p;
}

/*
 * Trim s (server encoding).  Returns a pointer into s in UTF-8 and SQL_ASCII
 * databases; in other encodings the text is trimmed as UTF-8 and converted
 * back, so the result may be a fresh palloc'd string.
 */
const char *
text_trim(const char *s, int len, int *trimmed_len)
{
	int			enc = GetDatabaseEncoding();
	char	   *utf8;
	int			utf8_len;
	const char *start;
	char	   *server;

	if (enc == PG_UTF8 || enc == PG_SQL_ASCII || len == 0)
		return utf8_trim(s, len, trimmed_len);

	/* The conversions return their input unchanged (not NUL-terminated) for ASCII. */
	utf8 = pg_server_to_any(s, len, PG_UTF8);
	utf8_len = (utf8 == s) ? len : (int) strlen(utf8);
	start = utf8_trim(utf8, utf8_len, trimmed_len);
	if (*trimmed_len == 0)
		return start;
	server = pg_any_to_server(start, *trimmed_len, PG_UTF8);
	if (server != start)
		*trimmed_len = strlen(server);
	return server;
}

bool
text_is_blank(const char *s, int len)
{
	int			trimmed_len;

	/* Fast path: almost every id starts with a visible ASCII character. */
	if (len > 0 && (unsigned char) s[0] > 0x20 && (unsigned char) s[0] < 0x80)
		return false;
	text_trim(s, len, &trimmed_len);
	return trimmed_len == 0;
}

void
sha256_digest(const char *data, size_t len, uint8 digest[PG_SHA256_DIGEST_LENGTH])
{
	pg_cryptohash_ctx *ctx = pg_cryptohash_create(PG_SHA256);

	if (pg_cryptohash_init(ctx) < 0 ||
		pg_cryptohash_update(ctx, (const uint8 *) data, len) < 0 ||
		pg_cryptohash_final(ctx, digest, PG_SHA256_DIGEST_LENGTH) < 0)
		elog(ERROR, "could not compute SHA-256 digest: %s",
			 pg_cryptohash_error(ctx));
	pg_cryptohash_free(ctx);
}

/* Lowercase hex SHA-256, NUL-terminated. */
char *
sha256_hex(const char *data, size_t len)
{
	uint8		digest[PG_SHA256_DIGEST_LENGTH];
	char	   *hex = palloc(PG_SHA256_DIGEST_LENGTH * 2 + 1);

	sha256_digest(data, len, digest);
	hex_encode((const char *) digest, PG_SHA256_DIGEST_LENGTH, hex);
	hex[PG_SHA256_DIGEST_LENGTH * 2] = '\0';
	return hex;
}

/*
 * The index key of an id in the state tables: SHA-256 of its bytes, so ids
 * of any length fit a btree entry.
 */
bytea *
sha256_key(const text *id)
{
	bytea	   *key = palloc(VARHDRSZ + PG_SHA256_DIGEST_LENGTH);

	SET_VARSIZE(key, VARHDRSZ + PG_SHA256_DIGEST_LENGTH);
	sha256_digest(VARDATA_ANY(id), VARSIZE_ANY_EXHDR(id), (uint8 *) VARDATA(key));
	return key;
}

/* Byte equality of two texts; NULL equals only NULL. */
bool
texts_equal(const text *a, const text *b)
{
	if (a == NULL || b == NULL)
		return a == b;
	return VARSIZE_ANY_EXHDR(a) == VARSIZE_ANY_EXHDR(b) &&
		memcmp(VARDATA_ANY(a), VARDATA_ANY(b), VARSIZE_ANY_EXHDR(a)) == 0;
}

/* Member key of object; false when absent (or object is NULL). */
bool
jsonb_member(JsonbContainer *object, const char *key, JsonbValue *out)
{
	/* NULL stands for a value that is not an object: it has no members */
	if (object == NULL)
		return false;
	return getKeyJsonValueFromContainer(object, key, strlen(key), out) != NULL;
}

bool
jbv_is_object(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsObject(v->val.binary.data);
}

bool
jbv_is_array(const JsonbValue *v)
{
	return v->type == jbvBinary && JsonContainerIsArray(v->val.binary.data);
}

bool
jbv_is_null(const JsonbValue *v)
{
	return v->type == jbvNull;
}

bool
jbv_string_equals(const JsonbValue *v, const char *literal)
{
	size_t		len = strlen(literal);

	return v->type == jbvString && v->val.string.len == (int) len &&
		memcmp(v->val.string.val, literal, len) == 0;
}

/*
 * contract §2 "integer": a number whose stored value has no fractional digits
 * and lies in 0 .. 2^64-1.  numeric_out prints exactly the stored digits
 * (never an exponent), so "2.0" keeps its ".0" and "1e2" prints as "100".
 */
bool
jbv_as_count(const JsonbValue *v, uint64 *count)
{
	char	   *digits;
	char	   *end;
	size_t		len;

	if (v->type != jbvNumeric)
		return false;
	digits = DatumGetCString(DirectFunctionCall1(numeric_out,
												 NumericGetDatum(v->val.numeric)));
	len = strlen(digits);
	/* at most 20 digits and nothing but digits: no sign, no point */
	if (len == 0 || len > 20 || strspn(digits, "0123456789") != len)
	{
		pfree(digits);
		return false;
	}
	errno = 0;
	*count = strtoull(digits, &end, 10);
	pfree(digits);
	return errno == 0;
}

void
jsonb_build_key(JsonbParseState **state, const char *key)
{
	JsonbValue	k;

	k.type = jbvString;
	k.val.string.val = (char *) key;
	k.val.string.len = strlen(key);
	pushJsonbValue(state, WJB_KEY, &k);
}

void
jsonb_build_string(JsonbParseState **state, const char *key,
				   const char *value, int len)
{
	JsonbValue	v;

	jsonb_build_key(state, key);
	v.type = jbvString;
	v.val.string.val = (char *) value;
	v.val.string.len = len;
	pushJsonbValue(state, WJB_VALUE, &v);
}

void
jsonb_build_count(JsonbParseState **state, const char *key, uint64 value)
{
	JsonbValue	v;
	char		digits[32];

	snprintf(digits, sizeof(digits), "%" PRIu64, value);
	jsonb_build_key(state, key);
	v.type = jbvNumeric;
	v.val.numeric = DatumGetNumeric(DirectFunctionCall3(numeric_in,
														CStringGetDatum(digits),
														ObjectIdGetDatum(InvalidOid),
														Int32GetDatum(-1)));
	pushJsonbValue(state, WJB_VALUE, &v);
}

Datum
jsonb_build_finish(JsonbValue *result)
{
	return JsonbPGetDatum(JsonbValueToJsonb(result));
}
