/* NMP/1 wire layer: CRC, receiver and framing (see nmp1.h). */
#include "nmp1.h"

#include <string.h>

uint16_t nmp1_crc16_update(uint16_t crc, uint8_t byte)
{
    unsigned bit;
    crc = (uint16_t)(crc ^ ((uint16_t)byte << 8));
    for (bit = 0; bit < 8; bit++) {
        crc = (crc & 0x8000u) ? (uint16_t)((crc << 1) ^ 0x1021u) : (uint16_t)(crc << 1);
    }
    return crc;
}

uint16_t nmp1_crc16(const uint8_t *data, size_t length)
{
    uint16_t crc = NMP1_CRC_INIT;
    size_t i;
    for (i = 0; i < length; i++) {
        crc = nmp1_crc16_update(crc, data[i]);
    }
    return crc;
}

void nmp1_rx_init(nmp1_rx_t *rx)
{
    memset(rx, 0, sizeof *rx);
}

void nmp1_rx_reset(nmp1_rx_t *rx)
{
    rx->stats.bytes_skipped += rx->used;
    rx->used = 0;
}

static void drop(nmp1_rx_t *rx, uint16_t count)
{
    rx->used = (uint16_t)(rx->used - count);
    memmove(rx->buf, rx->buf + count, rx->used);
}

/* Take every frame the buffer holds; stop when the candidate at the head is
 * incomplete (rules 1-5 of section 2.1). */
static void scan(nmp1_rx_t *rx, nmp1_frame_fn on_frame, void *context)
{
    while (rx->used > 0) {
        uint16_t start = 0;
        uint16_t need;
        uint16_t crc;
        /* Rule 1: the next A5 01 (or a trailing A5 that may become one). */
        while (start < rx->used && !(rx->buf[start] == NMP1_SOF &&
                                     (start + 1u == rx->used || rx->buf[start + 1] == NMP1_VERSION))) {
            start++;
        }
        if (start > 0) {
            rx->stats.bytes_skipped += start;
            drop(rx, start);
            continue;
        }
        if (rx->used < NMP1_HEADER_SIZE) {
            return;
        }
        /* Rule 2: a length beyond its type's bound makes the header noise. */
        if (rx->buf[NMP1_FRAME_LENGTH_OFFSET] > nmp1_payload_bound(rx->buf[NMP1_FRAME_TYPE_OFFSET])) {
            rx->stats.bytes_skipped++;
            drop(rx, 1);
            continue;
        }
        /* Rule 5: wait for the whole candidate, whatever it contains. */
        need = (uint16_t)(NMP1_OVERHEAD + rx->buf[NMP1_FRAME_LENGTH_OFFSET]);
        if (rx->used < need) {
            return;
        }
        crc = nmp1_crc16(rx->buf + 1, (size_t)need - 1u - NMP1_CRC_SIZE);
        if (rx->buf[need - 2] == (uint8_t)crc && rx->buf[need - 1] == (uint8_t)(crc >> 8)) {
            nmp1_frame_t frame;
            frame.seq = rx->buf[NMP1_FRAME_SEQ_OFFSET];
            frame.type = rx->buf[NMP1_FRAME_TYPE_OFFSET];
            frame.length = rx->buf[NMP1_FRAME_LENGTH_OFFSET];
            frame.payload = rx->buf + NMP1_HEADER_SIZE;
            rx->stats.frames++;
            if (on_frame != NULL) {
                on_frame(context, &frame);
            }
            drop(rx, need); /* rule 3 */
        } else {
            /* Rule 4: drop one byte and search inside the failed candidate. */
            rx->stats.crc_errors++;
            rx->stats.bytes_skipped++;
            drop(rx, 1);
        }
    }
}

void nmp1_rx_push(nmp1_rx_t *rx, uint8_t byte, nmp1_frame_fn on_frame, void *context)
{
    /* scan() leaves at most one incomplete candidate, shorter than a maximum frame. */
    rx->buf[rx->used++] = byte;
    scan(rx, on_frame, context);
}

void nmp1_rx_feed(nmp1_rx_t *rx, const uint8_t *data, size_t length, nmp1_frame_fn on_frame,
                  void *context)
{
    size_t i;
    for (i = 0; i < length; i++) {
        nmp1_rx_push(rx, data[i], on_frame, context);
    }
}

void nmp1_rx_expire(nmp1_rx_t *rx, nmp1_frame_fn on_frame, void *context)
{
    /* Nothing will complete what is buffered: drop the head byte of each
     * candidate (rule 4, not a CRC failure) and take what the search finds. */
    while (rx->used > 0) {
        rx->stats.bytes_skipped++;
        drop(rx, 1);
        scan(rx, on_frame, context);
    }
}

size_t nmp1_frame_encode(uint8_t *out, size_t capacity, uint8_t seq, uint8_t type,
                         const uint8_t *payload, size_t length)
{
    size_t total = length + NMP1_OVERHEAD;
    uint16_t crc;
    if (length > NMP1_MAX_PAYLOAD || capacity < total) {
        return 0;
    }
    if (length > 0 && payload != out + NMP1_HEADER_SIZE) {
        memmove(out + NMP1_HEADER_SIZE, payload, length);
    }
    out[0] = NMP1_SOF;
    out[NMP1_FRAME_VERSION_OFFSET] = NMP1_VERSION;
    out[NMP1_FRAME_LENGTH_OFFSET] = (uint8_t)length;
    out[NMP1_FRAME_SEQ_OFFSET] = seq;
    out[NMP1_FRAME_TYPE_OFFSET] = type;
    crc = nmp1_crc16(out + 1, NMP1_HEADER_SIZE - 1u + length);
    out[total - 2] = (uint8_t)crc;
    out[total - 1] = (uint8_t)(crc >> 8);
    return total;
}

size_t nmp1_encode(uint8_t *out, size_t capacity, uint8_t seq, uint8_t type,
                   const nmp1_message_t *msg)
{
    int length;
    size_t room;
    if (capacity < NMP1_OVERHEAD) {
        return 0;
    }
    room = capacity - NMP1_OVERHEAD;
    if (room > NMP1_MAX_PAYLOAD) {
        room = NMP1_MAX_PAYLOAD;
    }
    length = nmp1_encode_message(type, msg, out + NMP1_HEADER_SIZE, room);
    if (length < 0) {
        return 0;
    }
    return nmp1_frame_encode(out, capacity, seq, type, out + NMP1_HEADER_SIZE, (size_t)length);
}
