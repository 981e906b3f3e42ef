/* Test support for the C wire layer, loaded through ctypes. */
#include "nmp1.h"

size_t support_rx_size(void)
{
    return sizeof(nmp1_rx_t);
}

/* Decode a payload, render it as JSON, and build it again. Returns the decode
 * result; `*again_length` is the rebuilt payload's length or a negative error. */
int support_roundtrip(uint8_t type, const uint8_t *payload, size_t length, char *json,
                      size_t json_capacity, uint8_t *again, size_t again_capacity,
                      int *again_length)
{
    nmp1_message_t msg;
    int result = nmp1_decode_message(type, payload, length, &msg);
    if (result != NMP1_OK) {
        return result;
    }
    result = nmp1_message_json(type, &msg, json, json_capacity);
    if (result < 0) {
        return result;
    }
    *again_length = nmp1_encode_message(type, &msg, again, again_capacity);
    return NMP1_OK;
}

/* Decode a payload and frame it again with nmp1_encode. Returns the frame's size. */
size_t support_reframe(uint8_t seq, uint8_t type, const uint8_t *payload, size_t length,
                       uint8_t *out, size_t capacity)
{
    nmp1_message_t msg;
    if (nmp1_decode_message(type, payload, length, &msg) != NMP1_OK) {
        return 0;
    }
    return nmp1_encode(out, capacity, seq, type, &msg);
}
