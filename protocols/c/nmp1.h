/* NMP/1 wire layer in portable C99: CRC, a byte-at-a-time receiver, frames,
 * and (in nmp1_gen.h, generated from the Python definitions) every message's
 * constants, struct and payload codec.
 *
 * No dynamic allocation, no I/O, no clock: bytes in, frames and messages out.
 * The specification is protocols/specs/nmp1.md; section numbers below are its. */
#ifndef NMP1_H
#define NMP1_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* Results of the codecs (negative) */
#define NMP1_OK 0
#define NMP1_ERR_SHORT (-1)        /* payload shorter than its layout: NACK BAD_LENGTH */
#define NMP1_ERR_CAPACITY (-2)     /* does not fit the buffer or the struct's capacity */
#define NMP1_ERR_RANGE (-3)        /* a value wider than its field, a count above capacity */
#define NMP1_ERR_UNKNOWN_TYPE (-4) /* no such message type: NACK UNKNOWN_TYPE */

#include "nmp1_gen.h"

/* CRC-16/CCITT-FALSE: poly 0x1021, init 0xFFFF, no reflection, no final XOR. */
#define NMP1_CRC_INIT 0xFFFFu
uint16_t nmp1_crc16_update(uint16_t crc, uint8_t byte);
uint16_t nmp1_crc16(const uint8_t *data, size_t length);

/* A frame whose CRC was valid. `payload` points into the receiver's buffer and
 * is valid only during the callback that reports the frame. */
typedef struct {
    uint8_t seq;
    uint8_t type;
    uint8_t length;
    const uint8_t *payload;
} nmp1_frame_t;

typedef void (*nmp1_frame_fn)(void *context, const nmp1_frame_t *frame);

typedef struct {
    uint32_t frames;
    uint32_t bytes_skipped; /* discarded while searching for A5 01 */
    uint32_t crc_errors;
} nmp1_rx_stats_t;

/* The receiver of section 2.1. It holds one candidate frame at most
 * (NMP1_MAX_FRAME bytes): a candidate starts with A5 01; one whose length
 * exceeds its type's bound (nmp1_payload_bound) is noise and its first byte is
 * dropped; otherwise it is waited for until 7 + length bytes are in, and its
 * CRC decides. Valid, it is reported and
 * nothing inside it is looked at; invalid, its first byte is dropped and the
 * search resumes inside it, so one byte may complete several frames. */
typedef struct {
    uint8_t buf[NMP1_MAX_FRAME];
    uint16_t used;
    nmp1_rx_stats_t stats;
} nmp1_rx_t;

void nmp1_rx_init(nmp1_rx_t *rx);
/* Drop a partial frame (a new connection); counted as skipped. */
void nmp1_rx_reset(nmp1_rx_t *rx);
/* Feed one byte; `on_frame(context, frame)` is called for every frame it completes. */
void nmp1_rx_push(nmp1_rx_t *rx, uint8_t byte, nmp1_frame_fn on_frame, void *context);
/* Feed a chunk: the same as pushing its bytes one by one. */
void nmp1_rx_feed(nmp1_rx_t *rx, const uint8_t *data, size_t length, nmp1_frame_fn on_frame,
                  void *context);
/* Rule 6 of section 2.1: call when no byte has arrived for NMP1_STALE_CANDIDATE_MS
 * while rx->used > 0. The waiting candidate counts as failed: its bytes are
 * searched again, any complete frame among them is reported, the rest dropped. */
void nmp1_rx_expire(nmp1_rx_t *rx, nmp1_frame_fn on_frame, void *context);

/* Wrap `length` payload bytes in a frame at `out`. `payload` may already sit at
 * out + NMP1_HEADER_SIZE (build in place). Returns the frame's size, or 0 when
 * it does not fit `capacity` or `length` exceeds NMP1_MAX_PAYLOAD. */
size_t nmp1_frame_encode(uint8_t *out, size_t capacity, uint8_t seq, uint8_t type,
                         const uint8_t *payload, size_t length);

/* Build a message's payload in place and frame it. Returns the frame's size,
 * or 0 when it does not fit or a field is out of range. */
size_t nmp1_encode(uint8_t *out, size_t capacity, uint8_t seq, uint8_t type,
                   const nmp1_message_t *msg);

#ifdef __cplusplus
}
#endif

#endif /* NMP1_H */
