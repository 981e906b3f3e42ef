/* NMP/1 authenticated mode (spec section 10): SHA-256, HMAC-SHA-256 and the
 * device's check of signed frames. Portable C99, no allocation, no clock of its
 * own (the caller passes milliseconds), no randomness (the caller draws nonces).
 *
 * A device keeps one nmp1_auth_link_t per link. For a frame of a type that must
 * be signed (SET_OUTPUT, SET_HEAT, KEEPALIVE, SET_AUTO_OFF, UPLOAD_PATTERN) it
 * calls nmp1_auth_check(); a negative result is a NACK NOT_AUTHENTICATED with
 * the frame's seq, anything else is the length of the message payload (the
 * trailer stripped) to carry out. */
#ifndef NMP1_AUTH_H
#define NMP1_AUTH_H

#include <stddef.h>
#include <stdint.h>

#define NMP1_AUTH_KEY_SIZE 32u
#define NMP1_AUTH_NONCE_SIZE 8u
#define NMP1_AUTH_TAG_SIZE 5u
#define NMP1_AUTH_TRAILER_SIZE 7u /* counter_lo (u16 LE), then the tag */
#define NMP1_AUTH_WINDOW 0x8000u  /* how far past the last counter a frame may be */
#define NMP1_AUTH_BURST 8u        /* failed tags a link may spend at once ... */
#define NMP1_AUTH_REFILL_MS 1000u /* ... and the time it takes to earn one more */
#define NMP1_SHA256_SIZE 32u

typedef struct {
    uint32_t h[8];
    uint64_t total; /* bytes hashed so far */
    uint8_t block[64];
    uint8_t used; /* bytes waiting in block */
} nmp1_sha256_t;

void nmp1_sha256_init(nmp1_sha256_t *s);
void nmp1_sha256_update(nmp1_sha256_t *s, const uint8_t *data, size_t n);
void nmp1_sha256_final(nmp1_sha256_t *s, uint8_t out[NMP1_SHA256_SIZE]);
void nmp1_sha256(const uint8_t *data, size_t n, uint8_t out[NMP1_SHA256_SIZE]);

/* HMAC-SHA-256 (RFC 2104) of one message; a key longer than 64 bytes is hashed. */
void nmp1_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t n,
                      uint8_t out[NMP1_SHA256_SIZE]);

/* The key id SESSION reports: HMAC-SHA-256(key, "NMP1 key id")[0..4] as u32 LE. */
uint32_t nmp1_auth_key_id(const uint8_t key[NMP1_AUTH_KEY_SIZE]);

/* The smallest counter above last whose low 16 bits are low (may exceed 2^32 - 1). */
uint64_t nmp1_auth_expand(uint32_t last, uint16_t low);

/* The 5-byte tag of a frame whose message payload (no trailer) is payload[0..n). */
void nmp1_auth_tag(const uint8_t key[NMP1_AUTH_KEY_SIZE], const uint8_t nonce[NMP1_AUTH_NONCE_SIZE],
                   uint32_t counter, uint8_t seq, uint8_t type, const uint8_t *payload, uint8_t n,
                   uint8_t tag[NMP1_AUTH_TAG_SIZE]);

/* One link's session: its nonce, the last counter accepted, its failure allowance. */
typedef struct {
    uint8_t key[NMP1_AUTH_KEY_SIZE];
    uint8_t nonce[NMP1_AUTH_NONCE_SIZE];
    uint32_t last;      /* 0 before the first accepted frame */
    uint32_t credit_ms; /* the allowance in thousandths of a failure, up to 8000 */
    uint32_t at_ms;     /* when credit_ms was last brought up to date */
    uint8_t active;     /* a session was drawn for this link */
} nmp1_auth_link_t;

/* A new session on a link (a new connection, or a new key): counter 0, full allowance. */
void nmp1_auth_start(nmp1_auth_link_t *link, const uint8_t key[NMP1_AUTH_KEY_SIZE],
                     const uint8_t nonce[NMP1_AUTH_NONCE_SIZE], uint32_t now_ms);

/* The link closed: it has no session until the next nmp1_auth_start. */
void nmp1_auth_end(nmp1_auth_link_t *link);

/* Check a frame of a type that must be signed (spec 10.2 steps 1-5): the message
 * payload's length when it is authentic and fresh (the counter is then taken),
 * -1 when it must be NACKed NOT_AUTHENTICATED (nothing else changes but the
 * allowance). payload/length are the frame's whole payload, trailer included. */
int nmp1_auth_check(nmp1_auth_link_t *link, uint8_t seq, uint8_t type, const uint8_t *payload,
                    uint8_t length, uint32_t now_ms);

#endif
