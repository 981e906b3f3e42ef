/* Test support: the device skeleton on a fake board, driven through ctypes on
 * a virtual clock. The board records what the skeleton drives and sends. */
#include "nmp1_device.h"

#include <string.h>

#define OUT_CAPACITY 16384

static struct {
    uint8_t motors[NMP1_MAX_ZONES];
    uint8_t heater_pct;
    int16_t temperature_dc;
    int has_battery;
    uint8_t battery_pct;
    uint8_t charging;
    uint8_t out[OUT_CAPACITY];
    size_t out_length;
} board;

static nmp1_device_t device;
static nmp1_info_t info;
static nmp1_hal_t hal;

static void hal_send(void *context, const uint8_t *frame, size_t length)
{
    (void)context;
    if (board.out_length + length <= OUT_CAPACITY) {
        memcpy(board.out + board.out_length, frame, length);
        board.out_length += length;
    }
}

static void hal_set_motor(void *context, uint8_t zone, uint8_t level)
{
    (void)context;
    board.motors[zone] = level;
}

static void hal_set_heater(void *context, uint8_t power_pct)
{
    (void)context;
    board.heater_pct = power_pct;
}

static int16_t hal_read_temperature_dc(void *context)
{
    (void)context;
    return board.temperature_dc;
}

static int hal_read_battery(void *context, uint8_t *pct, uint16_t *mv, uint8_t *charging)
{
    (void)context;
    *pct = board.battery_pct;
    *mv = (uint16_t)(3300u + 9u * board.battery_pct);
    *charging = board.charging;
    return board.has_battery;
}

/* Start a device described by an INFO payload; returns the decode result. */
int sim_init(const uint8_t *info_payload, size_t length, uint32_t now_ms)
{
    int result = nmp1_decode_info(info_payload, length, &info);
    if (result != NMP1_OK) {
        return result;
    }
    memset(&board, 0, sizeof board);
    board.temperature_dc = 250;
    board.has_battery = info.battery_mah != 0;
    board.battery_pct = 80;
    hal.context = NULL;
    hal.send = hal_send;
    hal.set_motor = hal_set_motor;
    hal.set_heater = hal_set_heater;
    hal.read_temperature_dc = hal_read_temperature_dc;
    hal.read_battery = hal_read_battery;
    nmp1_device_init(&device, &info, &hal, now_ms);
    return NMP1_OK;
}

void sim_receive(const uint8_t *data, size_t length)
{
    nmp1_device_receive(&device, data, length);
}

void sim_tick(uint32_t now_ms)
{
    nmp1_device_tick(&device, now_ms);
}

void sim_button(void)
{
    nmp1_device_button(&device);
}

void sim_link_lost(void)
{
    nmp1_device_link_lost(&device);
}

void sim_set_temperature(int16_t dc)
{
    board.temperature_dc = dc;
}

void sim_set_battery(uint8_t pct, uint8_t charging)
{
    board.battery_pct = pct;
    board.charging = charging;
}

uint8_t sim_motor(uint8_t zone)
{
    return board.motors[zone];
}

uint8_t sim_heater(void)
{
    return board.heater_pct;
}

/* Move what the device sent into `out`; returns its length. */
size_t sim_take_output(uint8_t *out, size_t capacity)
{
    size_t n = board.out_length < capacity ? board.out_length : capacity;
    memcpy(out, board.out, n);
    memmove(board.out, board.out + n, board.out_length - n);
    board.out_length -= n;
    return n;
}
