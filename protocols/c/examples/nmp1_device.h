/* An NMP/1 device skeleton: the protocol state machine of a neck massager,
 * with the hardware behind a small HAL. Written from protocols/specs/nmp1.md;
 * section numbers below are the spec's.
 *
 * The firmware owns the clock and the links. It calls:
 *   nmp1_device_init()     once, with its description (INFO) and its HAL;
 *   nmp1_device_receive()  with every chunk of bytes a link delivers;
 *   nmp1_device_tick()     every few milliseconds (10 ms is plenty) with a
 *                          monotonic millisecond counter (it may wrap);
 *   nmp1_device_button()   when the user presses the button;
 *   nmp1_device_link_lost() when it knows the host went away (TCP close, BLE
 *                          disconnect); a UART cannot know, the watchdog stops it.
 * The state machine calls the HAL to drive motors and the heater, to read the
 * temperature and the battery, and to send frames. No allocation, no I/O of
 * its own; one device per nmp1_device_t. */
#ifndef NMP1_DEVICE_H
#define NMP1_DEVICE_H

#include "nmp1.h"
#ifdef NMP1_DEVICE_AUTH
#include "nmp1_auth.h" /* authenticated mode (section 10), when built with it */
#endif

#ifdef __cplusplus
extern "C" {
#endif

#ifndef NMP1_DEVICE_PATTERN_SLOTS
#define NMP1_DEVICE_PATTERN_SLOTS 4
#endif
#ifndef NMP1_DEVICE_PATTERN_STEPS
#define NMP1_DEVICE_PATTERN_STEPS 16
#endif

typedef struct {
    void *context;
    /* Send one whole frame toward the host. On BLE, split it into notifications
     * of at most ATT MTU - 3 bytes. */
    void (*send)(void *context, const uint8_t *frame, size_t length);
    /* Drive zone `zone`'s motor at `level`, 0 .. INFO intensity_steps. */
    void (*set_motor)(void *context, uint8_t zone, uint8_t level);
    /* Heater element power, 0 (off) .. 100 %. */
    void (*set_heater)(void *context, uint8_t power_pct);
    /* Heater temperature in 0.1 C, or NMP1_NO_TEMPERATURE without a reading. */
    int16_t (*read_temperature_dc)(void *context);
    /* Battery charge and voltage; returns 0 on mains power (no battery). May be NULL. */
    int (*read_battery)(void *context, uint8_t *pct, uint16_t *mv, uint8_t *charging);
#ifdef NMP1_DEVICE_AUTH
    /* Fill `out` with `n` bytes from a true random source (a session's nonce). */
    void (*random)(void *context, uint8_t *out, size_t n);
#endif
} nmp1_hal_t;

typedef struct {
    uint8_t intensity; /* commanded level */
    uint8_t level;     /* after the soft start, before the waveform */
    uint8_t waveform;
    uint8_t pattern_id;
    uint16_t period_ms;
    uint32_t started_ms; /* phase reference of the waveform */
    uint32_t ramp_ms;    /* last soft-start step */
} nmp1_zone_state_t;

typedef struct {
    uint8_t count; /* 0: never uploaded */
    nmp1_pattern_step_t steps[NMP1_DEVICE_PATTERN_STEPS];
} nmp1_pattern_slot_t;

typedef struct {
    const nmp1_info_t *info;
    const nmp1_hal_t *hal;
    nmp1_rx_t rx;
    uint32_t now_ms;
    uint32_t last_rx_ms;   /* the watchdog's reference: the last valid frame */
    uint32_t rx_byte_ms;   /* the last byte received (stale candidates, rule 6) */
    uint32_t on_since_ms;  /* the auto-off reference */
    uint32_t next_status_ms;
    uint16_t auto_off_s;   /* the auto-off time in force */
    uint16_t heat_target_dc;
    int16_t temperature_dc;
    uint8_t faults;          /* NMP1_FAULT_* flags and latches */
    uint8_t reported_faults; /* what the last STATUS showed */
    uint8_t was_on;          /* anything was on at the last tick */
    uint8_t heater_on;       /* the element is powered (the thermostat's state) */
    uint8_t battery_pct;     /* NMP1_NO_BATTERY on mains */
    uint8_t charging;
    uint16_t battery_mv;
    nmp1_zone_state_t zones[NMP1_MAX_ZONES];
    nmp1_pattern_slot_t patterns[NMP1_DEVICE_PATTERN_SLOTS];
    uint8_t tx[NMP1_MAX_FRAME];
#ifdef NMP1_DEVICE_AUTH
    const uint8_t *key;     /* the device's secret; NULL: the mode is off */
    nmp1_auth_link_t auth;  /* the link's session (one link at a time here) */
#endif
} nmp1_device_t;

void nmp1_device_init(nmp1_device_t *dev, const nmp1_info_t *info, const nmp1_hal_t *hal,
                      uint32_t now_ms);
void nmp1_device_receive(nmp1_device_t *dev, const uint8_t *data, size_t length);
void nmp1_device_tick(nmp1_device_t *dev, uint32_t now_ms);
void nmp1_device_button(nmp1_device_t *dev);
void nmp1_device_link_lost(nmp1_device_t *dev);
#ifdef NMP1_DEVICE_AUTH
/* Authenticated mode with `key` (32 bytes, kept by the caller; the label's secret:
 * this skeleton has no pairing window, so PAIR is always refused). The INFO given
 * to nmp1_device_init must advertise NMP1_FEATURE_AUTH, and the HAL give random. */
void nmp1_device_use_key(nmp1_device_t *dev, const uint8_t *key);
#endif
/* Whether any motor or the heater is on. */
int nmp1_device_is_on(const nmp1_device_t *dev);

#ifdef __cplusplus
}
#endif

#endif /* NMP1_DEVICE_H */
