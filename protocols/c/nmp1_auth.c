/* NMP/1 authenticated mode: see nmp1_auth.h. SHA-256 as FIPS 180-4 section 6.2
 * states it; HMAC as RFC 2104 states it. */
#include "nmp1_auth.h"

#include <string.h>

/* FIPS 180-4 4.2.2: the first 32 bits of the fractional parts of the cube roots
 * of the first 64 primes. */
static const uint32_t K[64] = {
    0x428a2f98u, 0x71374491u, 0xb5c0fbcfu, 0xe9b5dba5u, 0x3956c25bu, 0x59f111f1u, 0x923f82a4u,
    0xab1c5ed5u, 0xd807aa98u, 0x12835b01u, 0x243185beu, 0x550c7dc3u, 0x72be5d74u, 0x80deb1feu,
    0x9bdc06a7u, 0xc19bf174u, 0xe49b69c1u, 0xefbe4786u, 0x0fc19dc6u, 0x240ca1ccu, 0x2de92c6fu,
    0x4a7484aau, 0x5cb0a9dcu, 0x76f988dau, 0x983e5152u, 0xa831c66du, 0xb00327c8u, 0xbf597fc7u,
    0xc6e00bf3u, 0xd5a79147u, 0x06ca6351u, 0x14292967u, 0x27b70a85u, 0x2e1b2138u, 0x4d2c6dfcu,
    0x53380d13u, 0x650a7354u, 0x766a0abbu, 0x81c2c92eu, 0x92722c85u, 0xa2bfe8a1u, 0xa81a664bu,
    0xc24b8b70u, 0xc76c51a3u, 0xd192e819u, 0xd6990624u, 0xf40e3585u, 0x106aa070u, 0x19a4c116u,
    0x1e376c08u, 0x2748774cu, 0x34b0bcb5u, 0x391c0cb3u, 0x4ed8aa4au, 0x5b9cca4fu, 0x682e6ff3u,
    0x748f82eeu, 0x78a5636fu, 0x84c87814u, 0x8cc70208u, 0x90befffau, 0xa4506cebu, 0xbef9a3f7u,
    0xc67178f2u};

static uint32_t rotr(uint32_t x, unsigned n) { return (x >> n) | (x << (32u - n)); }

/* FIPS 180-4 6.2.2: one 512-bit block into the hash value. */
static void compress(uint32_t h[8], const uint8_t block[64]) {
    uint32_t w[64];
    uint32_t a, b, c, d, e, f, g, k, t1, t2;
    unsigned t;
    for (t = 0; t < 16u; t++) {
        w[t] = (uint32_t)block[4u * t] << 24 | (uint32_t)block[4u * t + 1u] << 16 |
               (uint32_t)block[4u * t + 2u] << 8 | (uint32_t)block[4u * t + 3u];
    }
    for (t = 16; t < 64u; t++) {
        uint32_t s0 = rotr(w[t - 15u], 7) ^ rotr(w[t - 15u], 18) ^ (w[t - 15u] >> 3);
        uint32_t s1 = rotr(w[t - 2u], 17) ^ rotr(w[t - 2u], 19) ^ (w[t - 2u] >> 10);
        w[t] = s1 + w[t - 7u] + s0 + w[t - 16u];
    }
    a = h[0], b = h[1], c = h[2], d = h[3], e = h[4], f = h[5], g = h[6], k = h[7];
    for (t = 0; t < 64u; t++) {
        t1 = k + (rotr(e, 6) ^ rotr(e, 11) ^ rotr(e, 25)) + ((e & f) ^ (~e & g)) + K[t] + w[t];
        t2 = (rotr(a, 2) ^ rotr(a, 13) ^ rotr(a, 22)) + ((a & b) ^ (a & c) ^ (b & c));
        k = g, g = f, f = e, e = d + t1, d = c, c = b, b = a, a = t1 + t2;
    }
    h[0] += a, h[1] += b, h[2] += c, h[3] += d, h[4] += e, h[5] += f, h[6] += g, h[7] += k;
}

void nmp1_sha256_init(nmp1_sha256_t *s) {
    /* FIPS 180-4 5.3.3: the square roots of the first 8 primes. */
    static const uint32_t H0[8] = {0x6a09e667u, 0xbb67ae85u, 0x3c6ef372u, 0xa54ff53au,
                                   0x510e527fu, 0x9b05688cu, 0x1f83d9abu, 0x5be0cd19u};
    memcpy(s->h, H0, sizeof H0);
    s->total = 0;
    s->used = 0;
}

void nmp1_sha256_update(nmp1_sha256_t *s, const uint8_t *data, size_t n) {
    size_t i;
    for (i = 0; i < n; i++) {
        s->block[s->used++] = data[i];
        if (s->used == 64u) {
            compress(s->h, s->block);
            s->used = 0;
        }
    }
    s->total += n;
}

void nmp1_sha256_final(nmp1_sha256_t *s, uint8_t out[NMP1_SHA256_SIZE]) {
    /* FIPS 180-4 5.1.1: a 1 bit, zeros to 448 mod 512, the length in bits (64, BE). */
    uint64_t bits = s->total * 8u;
    unsigned i;
    s->block[s->used++] = 0x80u;
    if (s->used > 56u) {
        memset(s->block + s->used, 0, 64u - s->used);
        compress(s->h, s->block);
        s->used = 0;
    }
    memset(s->block + s->used, 0, 56u - s->used);
    for (i = 0; i < 8u; i++) {
        s->block[63u - i] = (uint8_t)(bits >> (8u * i));
    }
    compress(s->h, s->block);
    for (i = 0; i < 8u; i++) {
        out[4u * i] = (uint8_t)(s->h[i] >> 24);
        out[4u * i + 1u] = (uint8_t)(s->h[i] >> 16);
        out[4u * i + 2u] = (uint8_t)(s->h[i] >> 8);
        out[4u * i + 3u] = (uint8_t)s->h[i];
    }
}

void nmp1_sha256(const uint8_t *data, size_t n, uint8_t out[NMP1_SHA256_SIZE]) {
    nmp1_sha256_t s;
    nmp1_sha256_init(&s);
    nmp1_sha256_update(&s, data, n);
    nmp1_sha256_final(&s, out);
}

/* HMAC over the concatenation of parts, so a frame's MAC needs no buffer. */
static void hmac_parts(const uint8_t *key, size_t key_len, const uint8_t *const *parts,
                       const size_t *sizes, unsigned count, uint8_t out[NMP1_SHA256_SIZE]) {
    uint8_t pad[64];
    uint8_t inner[NMP1_SHA256_SIZE];
    nmp1_sha256_t s;
    unsigned i;
    memset(pad, 0, sizeof pad);
    if (key_len > 64u) {
        nmp1_sha256(key, key_len, pad);
    } else if (key_len) {
        memcpy(pad, key, key_len);
    }
    for (i = 0; i < 64u; i++) pad[i] ^= 0x36u;
    nmp1_sha256_init(&s);
    nmp1_sha256_update(&s, pad, 64);
    for (i = 0; i < count; i++) nmp1_sha256_update(&s, parts[i], sizes[i]);
    nmp1_sha256_final(&s, inner);
    for (i = 0; i < 64u; i++) pad[i] ^= 0x36u ^ 0x5cu;
    nmp1_sha256_init(&s);
    nmp1_sha256_update(&s, pad, 64);
    nmp1_sha256_update(&s, inner, sizeof inner);
    nmp1_sha256_final(&s, out);
}

void nmp1_hmac_sha256(const uint8_t *key, size_t key_len, const uint8_t *data, size_t n,
                      uint8_t out[NMP1_SHA256_SIZE]) {
    hmac_parts(key, key_len, &data, &n, 1, out);
}

uint32_t nmp1_auth_key_id(const uint8_t key[NMP1_AUTH_KEY_SIZE]) {
    static const uint8_t label[] = "NMP1 key id";
    uint8_t mac[NMP1_SHA256_SIZE];
    nmp1_hmac_sha256(key, NMP1_AUTH_KEY_SIZE, label, sizeof label - 1u, mac);
    return (uint32_t)mac[0] | (uint32_t)mac[1] << 8 | (uint32_t)mac[2] << 16 |
           (uint32_t)mac[3] << 24;
}

uint64_t nmp1_auth_expand(uint32_t last, uint16_t low) {
    uint64_t candidate = ((uint64_t)last & ~(uint64_t)0xFFFFu) | low;
    if (candidate <= last) candidate += 0x10000u;
    return candidate;
}

void nmp1_auth_tag(const uint8_t key[NMP1_AUTH_KEY_SIZE], const uint8_t nonce[NMP1_AUTH_NONCE_SIZE],
                   uint32_t counter, uint8_t seq, uint8_t type, const uint8_t *payload, uint8_t n,
                   uint8_t tag[NMP1_AUTH_TAG_SIZE]) {
    /* nonce | counter (u32 LE) | version | length | seq | type | message payload */
    uint8_t head[8];
    uint8_t mac[NMP1_SHA256_SIZE];
    const uint8_t *parts[3];
    size_t sizes[3];
    head[0] = (uint8_t)counter;
    head[1] = (uint8_t)(counter >> 8);
    head[2] = (uint8_t)(counter >> 16);
    head[3] = (uint8_t)(counter >> 24);
    head[4] = 1u; /* protocol version */
    head[5] = (uint8_t)(n + NMP1_AUTH_TRAILER_SIZE);
    head[6] = seq;
    head[7] = type;
    parts[0] = nonce, sizes[0] = NMP1_AUTH_NONCE_SIZE;
    parts[1] = head, sizes[1] = sizeof head;
    parts[2] = payload, sizes[2] = n;
    hmac_parts(key, NMP1_AUTH_KEY_SIZE, parts, sizes, 3, mac);
    memcpy(tag, mac, NMP1_AUTH_TAG_SIZE);
}

void nmp1_auth_start(nmp1_auth_link_t *link, const uint8_t key[NMP1_AUTH_KEY_SIZE],
                     const uint8_t nonce[NMP1_AUTH_NONCE_SIZE], uint32_t now_ms) {
    memcpy(link->key, key, NMP1_AUTH_KEY_SIZE);
    memcpy(link->nonce, nonce, NMP1_AUTH_NONCE_SIZE);
    link->last = 0;
    link->credit_ms = NMP1_AUTH_BURST * NMP1_AUTH_REFILL_MS;
    link->at_ms = now_ms;
    link->active = 1;
}

void nmp1_auth_end(nmp1_auth_link_t *link) {
    memset(link, 0, sizeof *link); /* the key too: nothing of it stays in a closed link */
}

int nmp1_auth_check(nmp1_auth_link_t *link, uint8_t seq, uint8_t type, const uint8_t *payload,
                    uint8_t length, uint32_t now_ms) {
    const uint32_t full = NMP1_AUTH_BURST * NMP1_AUTH_REFILL_MS;
    uint8_t tag[NMP1_AUTH_TAG_SIZE];
    uint8_t n, diff = 0;
    uint32_t elapsed;
    uint64_t counter;
    unsigned i;
    /* 1. unsigned, or no session on this link */
    if (length < NMP1_AUTH_TRAILER_SIZE || !link->active) return -1;
    /* 2. the allowance: earn what the time since the last look gives, then look */
    elapsed = now_ms - link->at_ms; /* wraps correctly across 2^32 ms */
    link->at_ms = now_ms;
    link->credit_ms = elapsed >= full || link->credit_ms + elapsed >= full
                          ? full
                          : link->credit_ms + elapsed;
    if (link->credit_ms < NMP1_AUTH_REFILL_MS) return -1;
    /* 3. the counter */
    n = (uint8_t)(length - NMP1_AUTH_TRAILER_SIZE);
    counter = nmp1_auth_expand(link->last, (uint16_t)(payload[n] | payload[n + 1u] << 8));
    /* 4. the tag, compared in constant time */
    if (counter <= 0xFFFFFFFFu && counter - link->last <= NMP1_AUTH_WINDOW) {
        nmp1_auth_tag(link->key, link->nonce, (uint32_t)counter, seq, type, payload, n, tag);
        for (i = 0; i < NMP1_AUTH_TAG_SIZE; i++) diff |= (uint8_t)(tag[i] ^ payload[n + 2u + i]);
    } else {
        diff = 1;
    }
    if (diff) {
        link->credit_ms -= NMP1_AUTH_REFILL_MS;
        return -1;
    }
    /* 5. accepted */
    link->last = (uint32_t)counter;
    return n;
}
