/* An NMP/1 device skeleton (see nmp1_device.h). Choices the spec leaves open
 * are marked "Choice:". */
#include "nmp1_device.h"

#include <string.h>

#define STATUS_PERIOD_MS 1000u   /* section 6: telemetry about once a second */
#define SOFT_START_STEP_MS 40u   /* section 6: one level per 40 ms going up */
#define HEAT_HYSTERESIS_DC 3     /* the heater's on/off band around the target */
#define OVERHEAT_CLEAR_DC 20     /* Choice: OVERHEAT clears 2.0 C below the limit */
#define SENSOR_MIN_DC (-200)     /* Choice: readings outside -20..150 C are implausible */
#define SENSOR_MAX_DC 1500
#define LOW_BATTERY_PCT 10u      /* section 7.5 */
#define LOW_BATTERY_CLEAR_PCT 12u
#define SHUTDOWN_PCT 3u
#define SHUTDOWN_CLEAR_PCT 5u
#define LATCHES (NMP1_FAULT_WATCHDOG | NMP1_FAULT_AUTO_OFF)
#define HEAT_LOCKS (NMP1_FAULT_OVERHEAT | NMP1_FAULT_SENSOR)

static uint32_t since(uint32_t now, uint32_t then)
{
    return now - then; /* unsigned: right across the counter's wrap */
}

static int reached(uint32_t now, uint32_t deadline)
{
    return since(now, deadline) < 0x80000000u;
}

static uint8_t zone_count(const nmp1_device_t *dev)
{
    return dev->info->zones_count;
}

static uint8_t pattern_slots(const nmp1_device_t *dev)
{
    uint8_t slots = dev->info->pattern_slots;
    return slots < NMP1_DEVICE_PATTERN_SLOTS ? slots : (uint8_t)NMP1_DEVICE_PATTERN_SLOTS;
}

static uint8_t pattern_steps(const nmp1_device_t *dev)
{
    uint8_t steps = dev->info->pattern_max_steps;
    return steps < NMP1_DEVICE_PATTERN_STEPS ? steps : (uint8_t)NMP1_DEVICE_PATTERN_STEPS;
}

int nmp1_device_is_on(const nmp1_device_t *dev)
{
    uint8_t i;
    for (i = 0; i < zone_count(dev); i++) {
        if (dev->zones[i].intensity > 0) {
            return 1;
        }
    }
    return dev->heat_target_dc > 0;
}

/* -- sending ------------------------------------------------------------------ */

static void send_payload(nmp1_device_t *dev, uint8_t seq, uint8_t type, int length)
{
    size_t size;
    if (length < 0) {
        return; /* a device-side bug: a payload that does not build is never sent */
    }
    size = nmp1_frame_encode(dev->tx, sizeof dev->tx, seq, type, dev->tx + NMP1_HEADER_SIZE,
                             (size_t)length);
    if (size > 0) {
        dev->hal->send(dev->hal->context, dev->tx, size);
    }
}

#define PAYLOAD(dev) ((dev)->tx + NMP1_HEADER_SIZE)
#define ROOM NMP1_MAX_PAYLOAD

static void ack(nmp1_device_t *dev, uint8_t seq, uint8_t type)
{
    nmp1_ack_t msg;
    msg.acked_type = type;
    send_payload(dev, seq, NMP1_MSG_ACK, nmp1_encode_ack(&msg, PAYLOAD(dev), ROOM));
}

static void nack(nmp1_device_t *dev, uint8_t seq, uint8_t type, uint8_t code)
{
    nmp1_nack_t msg;
    msg.acked_type = type;
    msg.code = code;
    send_payload(dev, seq, NMP1_MSG_NACK, nmp1_encode_nack(&msg, PAYLOAD(dev), ROOM));
}

static void send_event(nmp1_device_t *dev, uint8_t code, uint8_t state, int16_t value)
{
    nmp1_event_t msg;
    msg.code = code;
    msg.state = state;
    msg.value = value;
    send_payload(dev, 0, NMP1_MSG_EVENT, nmp1_encode_event(&msg, PAYLOAD(dev), ROOM));
}

static uint16_t auto_off_left_s(const nmp1_device_t *dev)
{
    uint32_t limit_ms = (uint32_t)dev->auto_off_s * 1000u;
    uint32_t elapsed = since(dev->now_ms, dev->on_since_ms);
    if (!nmp1_device_is_on(dev) || elapsed >= limit_ms) {
        return 0;
    }
    return (uint16_t)((limit_ms - elapsed + 999u) / 1000u);
}

static uint8_t zone_output(const nmp1_device_t *dev, const nmp1_zone_state_t *zone);

static void send_status(nmp1_device_t *dev, uint8_t seq)
{
    nmp1_status_t msg;
    uint8_t i;
    uint16_t measured = (uint16_t)dev->temperature_dc; /* two's complement, 12 bits kept */
    msg.power = dev->battery_pct == NMP1_NO_BATTERY
                    ? (uint8_t)NMP1_NO_BATTERY
                    : (uint8_t)((dev->charging ? 0x80u : 0u) | dev->battery_pct);
    msg.battery_mv = dev->battery_mv;
    msg.faults = dev->faults;
    msg.heat = (uint32_t)(dev->heat_target_dc & 0xFFFu) | ((uint32_t)(measured & 0xFFFu) << 12);
    msg.auto_off_s = auto_off_left_s(dev);
    if (msg.auto_off_s > NMP1_STATUS_AUTO_OFF_MAX) {
        msg.auto_off_s = NMP1_STATUS_AUTO_OFF_MAX; /* 12 bits: "4095 s or more" */
    }
    /* The generated codec packs the levels 4 bits each, the zone count beside
     * the auto-off seconds, and marks the 1.1 layout in faults (section 4.2). */
    msg.intensities_count = zone_count(dev);
    for (i = 0; i < zone_count(dev); i++) {
        /* What the motor is driven at now: soft start and waveform (section 6). */
        msg.intensities[i] = zone_output(dev, &dev->zones[i]);
    }
    if (seq == 0) {
        dev->reported_faults = dev->faults;
    }
    send_payload(dev, seq, NMP1_MSG_STATUS, nmp1_encode_status(&msg, PAYLOAD(dev), ROOM));
}

/* -- outputs ------------------------------------------------------------------ */

static void stop_everything(nmp1_device_t *dev)
{
    uint8_t i;
    for (i = 0; i < zone_count(dev); i++) {
        dev->zones[i].intensity = 0;
        dev->zones[i].level = 0;
        dev->hal->set_motor(dev->hal->context, i, 0);
    }
    dev->heat_target_dc = 0;
    dev->hal->set_heater(dev->hal->context, 0);
}

static uint32_t pattern_loop_ms(const nmp1_pattern_slot_t *slot)
{
    uint32_t total = 0;
    uint8_t i;
    for (i = 0; i < slot->count; i++) {
        total += slot->steps[i].duration_ms;
    }
    return total;
}

/* The motor level of a zone now: its soft-started level shaped by its waveform. */
static uint8_t zone_output(const nmp1_device_t *dev, const nmp1_zone_state_t *zone)
{
    uint32_t t = since(dev->now_ms, zone->started_ms);
    uint32_t level = zone->level;
    if (level == 0) {
        return 0;
    }
    switch (zone->waveform) {
    case NMP1_WAVEFORM_PULSE:
        return (t % zone->period_ms) < zone->period_ms / 2u ? zone->level : 0;
    case NMP1_WAVEFORM_WAVE: {
        /* A smoothstep over a triangle: 0 at the period's start and end, the
         * full level at its middle, no corners. x runs 0..1000. */
        uint32_t phase = t % zone->period_ms;
        uint32_t half = zone->period_ms / 2u + 1u;
        uint32_t x = (phase < half ? phase : zone->period_ms - phase) * 1000u / half;
        uint32_t smooth = x * x / 1000u * (3000u - 2u * x) / 1000u;
        return (uint8_t)((level * smooth + 500u) / 1000u);
    }
    case NMP1_WAVEFORM_PATTERN: {
        const nmp1_pattern_slot_t *slot = &dev->patterns[zone->pattern_id];
        uint32_t loop = pattern_loop_ms(slot);
        uint32_t at;
        uint8_t i;
        if (loop == 0) {
            return 0;
        }
        /* Choice: period_ms is the phase offset into the loop, rounded as the
         * nearest level (section 6). */
        at = (t + zone->period_ms) % loop;
        for (i = 0; i < slot->count; i++) {
            if (at < slot->steps[i].duration_ms) {
                return (uint8_t)((level * slot->steps[i].level_pct + 50u) / 100u);
            }
            at -= slot->steps[i].duration_ms;
        }
        return 0;
    }
    default:
        return zone->level;
    }
}

static void drive_outputs(nmp1_device_t *dev)
{
    uint8_t i;
    uint8_t power = 0;
    for (i = 0; i < zone_count(dev); i++) {
        nmp1_zone_state_t *zone = &dev->zones[i];
        if (zone->level > zone->intensity) {
            zone->level = zone->intensity; /* down at once */
        } else if (zone->level < zone->intensity &&
                   since(dev->now_ms, zone->ramp_ms) >= SOFT_START_STEP_MS) {
            zone->level++;
            zone->ramp_ms = dev->now_ms;
        }
        dev->hal->set_motor(dev->hal->context, i, zone_output(dev, zone));
    }
    if (dev->heat_target_dc > 0) {
        if (dev->info->features & NMP1_FEATURE_TEMPERATURE_SENSOR) {
            int target = dev->heat_target_dc;
            const int band = HEAT_HYSTERESIS_DC;
            /* on below the band, off above it, as it was inside it */
            if (dev->temperature_dc < target - band) {
                power = 100;
            } else if (dev->temperature_dc <= target + band && dev->heater_on) {
                power = 100;
            }
        } else {
            /* Without a sensor: open loop, in proportion to the target. */
            power = (uint8_t)(100u * dev->heat_target_dc / dev->info->heat_limit_dc);
        }
    }
    dev->heater_on = power > 0;
    dev->hal->set_heater(dev->hal->context, power);
}

/* -- commands (section 4.1) ---------------------------------------------------- */

static int battery_too_low(const nmp1_device_t *dev)
{
    return dev->faults & NMP1_FAULT_BATTERY_CRITICAL;
}

static void set_output(nmp1_device_t *dev, uint8_t seq, const nmp1_set_output_t *msg)
{
    uint8_t i;
    int timed = msg->waveform == NMP1_WAVEFORM_PULSE || msg->waveform == NMP1_WAVEFORM_WAVE;
    /* Section 7.3: OUT_OF_RANGE for a value the device cannot take; then
     * LOW_BATTERY. Choice: mask 0 and a period of 0 for pulse or wave are
     * out of range; so is a pattern slot never uploaded. */
    if (msg->zone_mask == 0 || (msg->zone_mask >> zone_count(dev)) != 0 ||
        msg->intensity > dev->info->intensity_steps || msg->waveform > NMP1_WAVEFORM_PATTERN ||
        (timed && msg->period_ms == 0 && msg->intensity > 0) ||
        (msg->waveform == NMP1_WAVEFORM_PATTERN &&
         (msg->pattern_id >= pattern_slots(dev) || dev->patterns[msg->pattern_id].count == 0))) {
        nack(dev, seq, NMP1_MSG_SET_OUTPUT, NMP1_NACK_OUT_OF_RANGE);
        return;
    }
    if (msg->intensity > 0 && battery_too_low(dev)) {
        nack(dev, seq, NMP1_MSG_SET_OUTPUT, NMP1_NACK_LOW_BATTERY);
        return;
    }
    for (i = 0; i < zone_count(dev); i++) {
        nmp1_zone_state_t *zone = &dev->zones[i];
        if (!(msg->zone_mask & (1u << i))) {
            continue;
        }
        /* Choice: the waveform's phase restarts only when the waveform changes
         * or the zone was off, so a host repeating a command never stutters. */
        if (zone->intensity == 0 || zone->waveform != msg->waveform ||
            zone->pattern_id != msg->pattern_id || zone->period_ms != msg->period_ms) {
            zone->started_ms = dev->now_ms;
        }
        zone->intensity = msg->intensity;
        zone->waveform = msg->waveform;
        zone->pattern_id = msg->pattern_id;
        zone->period_ms = msg->period_ms;
    }
    if (msg->intensity > 0) {
        dev->faults &= (uint8_t)~LATCHES; /* section 7: latches clear on switching on */
    }
    ack(dev, seq, NMP1_MSG_SET_OUTPUT);
}

static void set_heat(nmp1_device_t *dev, uint8_t seq, const nmp1_set_heat_t *msg)
{
    const nmp1_info_t *info = dev->info;
    uint16_t lowest = info->heat_limit_dc;
    uint8_t i;
    for (i = 0; i < info->heat_targets_dc_count; i++) {
        if (info->heat_targets_dc[i] < lowest) {
            lowest = info->heat_targets_dc[i];
        }
    }
    /* Section 6.4: without a heater every SET_HEAT is out of range, 0 included. */
    if (!(info->features & NMP1_FEATURE_HEAT) ||
        (msg->target_dc != 0 && (msg->target_dc > info->heat_limit_dc || msg->target_dc < lowest))) {
        nack(dev, seq, NMP1_MSG_SET_HEAT, NMP1_NACK_OUT_OF_RANGE);
        return;
    }
    if (msg->target_dc != 0 && (dev->faults & HEAT_LOCKS)) {
        nack(dev, seq, NMP1_MSG_SET_HEAT, NMP1_NACK_HEAT_LOCKED);
        return;
    }
    if (msg->target_dc != 0 && battery_too_low(dev)) {
        nack(dev, seq, NMP1_MSG_SET_HEAT, NMP1_NACK_LOW_BATTERY);
        return;
    }
    dev->heat_target_dc = msg->target_dc;
    if (msg->target_dc != 0) {
        dev->faults &= (uint8_t)~LATCHES;
    }
    ack(dev, seq, NMP1_MSG_SET_HEAT);
}

static void set_auto_off(nmp1_device_t *dev, uint8_t seq, const nmp1_set_auto_off_t *msg)
{
    if (msg->seconds > dev->info->auto_off_max_s) {
        nack(dev, seq, NMP1_MSG_SET_AUTO_OFF, NMP1_NACK_OUT_OF_RANGE);
        return;
    }
    /* Section 7.2: the new limit counts from the start of the on-period; setting
     * it never restarts the count, so no host can hold a device on by repeating it. */
    dev->auto_off_s = msg->seconds ? msg->seconds : dev->info->auto_off_default_s;
    ack(dev, seq, NMP1_MSG_SET_AUTO_OFF);
}

static void upload_pattern(nmp1_device_t *dev, uint8_t seq, const nmp1_upload_pattern_t *msg)
{
    uint8_t i;
    int bad = msg->pattern_id >= pattern_slots(dev) || msg->steps_count == 0 ||
              msg->steps_count > pattern_steps(dev);
    for (i = 0; !bad && i < msg->steps_count; i++) {
        bad = msg->steps[i].level_pct > 100u || msg->steps[i].duration_ms == 0;
    }
    if (bad) {
        nack(dev, seq, NMP1_MSG_UPLOAD_PATTERN, NMP1_NACK_OUT_OF_RANGE);
        return;
    }
    /* Choice: a zone playing this slot goes on with the new steps, in phase. */
    dev->patterns[msg->pattern_id].count = msg->steps_count;
    memcpy(dev->patterns[msg->pattern_id].steps, msg->steps,
           msg->steps_count * sizeof msg->steps[0]);
    ack(dev, seq, NMP1_MSG_UPLOAD_PATTERN);
}

#ifdef NMP1_DEVICE_AUTH
/* -- authenticated mode (section 10) ---------------------------------------------- */

static void send_session(nmp1_device_t *dev, uint8_t seq)
{
    nmp1_session_t msg;
    if (!dev->auth.active) { /* drawn on first asking, once per connection */
        uint8_t nonce[NMP1_AUTH_NONCE_SIZE];
        dev->hal->random(dev->hal->context, nonce, sizeof nonce);
        nmp1_auth_start(&dev->auth, dev->key, nonce, dev->now_ms);
    }
    msg.flags = NMP1_SESSION_LABEL_KEY;
    msg.key_id = nmp1_auth_key_id(dev->key);
    msg.nonce_count = NMP1_AUTH_NONCE_SIZE;
    memcpy(msg.nonce, dev->auth.nonce, NMP1_AUTH_NONCE_SIZE);
    send_payload(dev, seq, NMP1_MSG_SESSION, nmp1_encode_session(&msg, PAYLOAD(dev), ROOM));
}

/* What the mode does before a frame is carried out: 1 when it answered the frame
 * itself (INFO and SESSION, a refusal); else *frame is what to carry out (a signed
 * frame without its trailer). Only authenticated frames feed the watchdog. */
static int auth_screen(nmp1_device_t *dev, const nmp1_frame_t **frame, nmp1_frame_t *stripped)
{
    const nmp1_frame_t *f = *frame;
    int n;
    if (dev->key == NULL) {
        dev->last_rx_ms = dev->now_ms;
        return 0;
    }
    switch (f->type) {
    case NMP1_MSG_GET_INFO: /* INFO, then SESSION with the same seq (10.1) */
        send_payload(dev, f->seq, NMP1_MSG_INFO, nmp1_encode_info(dev->info, PAYLOAD(dev), ROOM));
        send_session(dev, f->seq);
        return 1;
    case NMP1_MSG_GET_SESSION:
        send_session(dev, f->seq);
        return 1;
    case NMP1_MSG_PAIR: /* no pairing window in this skeleton (10.5) */
        nack(dev, f->seq, f->type, NMP1_NACK_NOT_AUTHENTICATED);
        return 1;
    case NMP1_MSG_SET_OUTPUT:
    case NMP1_MSG_SET_HEAT:
    case NMP1_MSG_KEEPALIVE:
    case NMP1_MSG_SET_AUTO_OFF:
    case NMP1_MSG_UPLOAD_PATTERN:
        n = nmp1_auth_check(&dev->auth, f->seq, f->type, f->payload, f->length, dev->now_ms);
        if (n < 0) {
            nack(dev, f->seq, f->type, NMP1_NACK_NOT_AUTHENTICATED);
            return 1;
        }
        *stripped = *f;
        stripped->length = (uint8_t)n;
        *frame = stripped;
        dev->last_rx_ms = dev->now_ms;
        return 0;
    default:
        return 0; /* reading, stopping and unknown types: as without the mode */
    }
}

void nmp1_device_use_key(nmp1_device_t *dev, const uint8_t *key)
{
    dev->key = key;
    nmp1_auth_end(&dev->auth); /* a new key: a new session */
}
#endif

static void on_frame(void *context, const nmp1_frame_t *received)
{
    nmp1_device_t *dev = (nmp1_device_t *)context;
    const nmp1_frame_t *frame = received;
    uint8_t seq = frame->seq;
    uint8_t type = frame->type;
    int result = NMP1_OK;
    union {
        nmp1_set_output_t set_output;
        nmp1_set_heat_t set_heat;
        nmp1_set_auto_off_t set_auto_off;
        nmp1_upload_pattern_t upload_pattern;
    } msg;
#ifdef NMP1_DEVICE_AUTH
    nmp1_frame_t stripped;
#endif

    if (seq == 0) {
        return; /* section 2: seq 0 is the device's own numbering; no host sends it */
    }
    /* Section 7.1: a frame from the controlling link feeds the watchdog. This
     * skeleton serves one link at a time (section 7.7), so that is every frame
     * (in authenticated mode, every authenticated frame: auth_screen). */
#ifdef NMP1_DEVICE_AUTH
    if (auth_screen(dev, &frame, &stripped)) {
        return;
    }
#else
    dev->last_rx_ms = dev->now_ms;
#endif
    switch (type) {
    case NMP1_MSG_SET_OUTPUT:
        result = nmp1_decode_set_output(frame->payload, frame->length, &msg.set_output);
        break;
    case NMP1_MSG_SET_HEAT:
        result = nmp1_decode_set_heat(frame->payload, frame->length, &msg.set_heat);
        break;
    case NMP1_MSG_SET_AUTO_OFF:
        result = nmp1_decode_set_auto_off(frame->payload, frame->length, &msg.set_auto_off);
        break;
    case NMP1_MSG_UPLOAD_PATTERN:
        result = nmp1_decode_upload_pattern(frame->payload, frame->length, &msg.upload_pattern);
        break;
    case NMP1_MSG_GET_INFO:
    case NMP1_MSG_GET_STATUS:
    case NMP1_MSG_STOP_ALL:
    case NMP1_MSG_KEEPALIVE:
        break; /* empty payloads; extra bytes are ignored (section 8) */
    default:
        /* Device-to-host types are unknown to a device as commands. */
        nack(dev, seq, type, NMP1_NACK_UNKNOWN_TYPE);
        return;
    }
    if (result == NMP1_ERR_SHORT) {
        nack(dev, seq, type, NMP1_NACK_BAD_LENGTH);
        return;
    }
    if (result != NMP1_OK) {
        nack(dev, seq, type, NMP1_NACK_OUT_OF_RANGE); /* more steps than a payload holds */
        return;
    }
    switch (type) {
    case NMP1_MSG_GET_INFO:
        send_payload(dev, seq, NMP1_MSG_INFO, nmp1_encode_info(dev->info, PAYLOAD(dev), ROOM));
        break;
    case NMP1_MSG_GET_STATUS:
        send_status(dev, seq);
        break;
    case NMP1_MSG_SET_OUTPUT:
        set_output(dev, seq, &msg.set_output);
        break;
    case NMP1_MSG_SET_HEAT:
        set_heat(dev, seq, &msg.set_heat);
        break;
    case NMP1_MSG_STOP_ALL:
        stop_everything(dev); /* never refused */
        ack(dev, seq, type);
        break;
    case NMP1_MSG_KEEPALIVE:
        ack(dev, seq, type);
        break;
    case NMP1_MSG_SET_AUTO_OFF:
        set_auto_off(dev, seq, &msg.set_auto_off);
        break;
    default:
        upload_pattern(dev, seq, &msg.upload_pattern);
        break;
    }
}

/* -- sensing and the firmware contract (section 7) ------------------------------ */

static void sense_heat(nmp1_device_t *dev)
{
    int16_t t;
    int plausible;
    if (!(dev->info->features & NMP1_FEATURE_TEMPERATURE_SENSOR)) {
        dev->temperature_dc = NMP1_NO_TEMPERATURE;
        return;
    }
    t = dev->hal->read_temperature_dc(dev->hal->context);
    plausible = t != NMP1_NO_TEMPERATURE && t >= SENSOR_MIN_DC && t <= SENSOR_MAX_DC;
    /* Choice: STATUS shows no temperature while the sensor is at fault. */
    dev->temperature_dc = plausible ? t : (int16_t)NMP1_NO_TEMPERATURE;
    if (!plausible && !(dev->faults & NMP1_FAULT_SENSOR)) {
        dev->faults |= NMP1_FAULT_SENSOR;
        dev->heat_target_dc = 0;
        dev->hal->set_heater(dev->hal->context, 0);
        send_event(dev, NMP1_EVENT_SENSOR_FAULT, NMP1_EVENT_STATE_RAISED, t);
    } else if (plausible && (dev->faults & NMP1_FAULT_SENSOR)) {
        dev->faults &= (uint8_t)~NMP1_FAULT_SENSOR;
        send_event(dev, NMP1_EVENT_SENSOR_FAULT, NMP1_EVENT_STATE_CLEARED, t);
    }
    if (!plausible) {
        return;
    }
    if (t > (int)dev->info->heat_limit_dc && !(dev->faults & NMP1_FAULT_OVERHEAT)) {
        dev->faults |= NMP1_FAULT_OVERHEAT;
        dev->heat_target_dc = 0; /* Choice: the cut turns the heater off for good */
        dev->hal->set_heater(dev->hal->context, 0);
        send_event(dev, NMP1_EVENT_OVERHEAT, NMP1_EVENT_STATE_RAISED, t);
    } else if (t <= (int)dev->info->heat_limit_dc - OVERHEAT_CLEAR_DC &&
               (dev->faults & NMP1_FAULT_OVERHEAT)) {
        dev->faults &= (uint8_t)~NMP1_FAULT_OVERHEAT;
        send_event(dev, NMP1_EVENT_OVERHEAT, NMP1_EVENT_STATE_CLEARED, t);
    }
}

static void sense_battery(nmp1_device_t *dev)
{
    uint8_t pct = NMP1_NO_BATTERY;
    uint8_t charging = 0;
    uint16_t mv = 0;
    if (dev->hal->read_battery == NULL ||
        !dev->hal->read_battery(dev->hal->context, &pct, &mv, &charging)) {
        dev->battery_pct = NMP1_NO_BATTERY;
        dev->battery_mv = 0;
        dev->charging = 0;
        return;
    }
    if (charging != dev->charging) {
        send_event(dev, NMP1_EVENT_CHARGER,
                   charging ? NMP1_EVENT_STATE_RAISED : NMP1_EVENT_STATE_CLEARED, (int16_t)pct);
    }
    dev->battery_pct = pct > 100u ? 100u : pct;
    dev->battery_mv = mv;
    dev->charging = charging ? 1u : 0u;
    if (pct <= LOW_BATTERY_PCT && !(dev->faults & NMP1_FAULT_LOW_BATTERY)) {
        dev->faults |= NMP1_FAULT_LOW_BATTERY;
        dev->heat_target_dc = 0; /* section 7.5: the heater, the largest load, goes first */
        dev->hal->set_heater(dev->hal->context, 0);
        send_event(dev, NMP1_EVENT_LOW_BATTERY, NMP1_EVENT_STATE_RAISED, (int16_t)pct);
    } else if (pct >= LOW_BATTERY_CLEAR_PCT && (dev->faults & NMP1_FAULT_LOW_BATTERY)) {
        dev->faults &= (uint8_t)~NMP1_FAULT_LOW_BATTERY;
        send_event(dev, NMP1_EVENT_LOW_BATTERY, NMP1_EVENT_STATE_CLEARED, (int16_t)pct);
    }
    if (pct <= SHUTDOWN_PCT && !(dev->faults & NMP1_FAULT_BATTERY_CRITICAL)) {
        dev->faults |= NMP1_FAULT_BATTERY_CRITICAL;
        stop_everything(dev);
        send_event(dev, NMP1_EVENT_SHUTDOWN, NMP1_EVENT_STATE_RAISED, (int16_t)pct);
    } else if (pct >= SHUTDOWN_CLEAR_PCT && (dev->faults & NMP1_FAULT_BATTERY_CRITICAL)) {
        dev->faults &= (uint8_t)~NMP1_FAULT_BATTERY_CRITICAL;
    }
}

static void stop_with(nmp1_device_t *dev, uint8_t latch, uint8_t event, int16_t value)
{
    stop_everything(dev);
    dev->faults |= latch;
    send_event(dev, event, NMP1_EVENT_STATE_RAISED, value); /* section 7.8 */
}

void nmp1_device_init(nmp1_device_t *dev, const nmp1_info_t *info, const nmp1_hal_t *hal,
                      uint32_t now_ms)
{
    memset(dev, 0, sizeof *dev);
    dev->info = info;
    dev->hal = hal;
    nmp1_rx_init(&dev->rx);
    dev->now_ms = dev->last_rx_ms = dev->on_since_ms = now_ms;
    dev->auto_off_s = info->auto_off_default_s;
    dev->temperature_dc = NMP1_NO_TEMPERATURE;
    dev->battery_pct = NMP1_NO_BATTERY;
    stop_everything(dev);
}

void nmp1_device_receive(nmp1_device_t *dev, const uint8_t *data, size_t length)
{
    dev->rx_byte_ms = dev->now_ms;
    nmp1_rx_feed(&dev->rx, data, length, on_frame, dev);
}

void nmp1_device_tick(nmp1_device_t *dev, uint32_t now_ms)
{
    int on;
    dev->now_ms = now_ms;
    if (dev->rx.used > 0 && since(now_ms, dev->rx_byte_ms) >= NMP1_STALE_CANDIDATE_MS) {
        nmp1_rx_expire(&dev->rx, on_frame, dev); /* section 2.1, rule 6 */
    }
    sense_heat(dev);
    sense_battery(dev);
    on = nmp1_device_is_on(dev);
    if (on && !dev->was_on) {
        dev->on_since_ms = now_ms; /* Choice: auto-off counts from switching on */
        dev->next_status_ms = now_ms + STATUS_PERIOD_MS;
    }
    if (on && since(now_ms, dev->last_rx_ms) >= dev->info->watchdog_ms) {
        stop_with(dev, NMP1_FAULT_WATCHDOG, NMP1_EVENT_WATCHDOG_STOP, 0);
    } else if (on && since(now_ms, dev->on_since_ms) >= (uint32_t)dev->auto_off_s * 1000u) {
        stop_with(dev, NMP1_FAULT_AUTO_OFF, NMP1_EVENT_AUTO_OFF, (int16_t)dev->auto_off_s);
    }
    drive_outputs(dev);
    on = nmp1_device_is_on(dev);
    /* Section 6: STATUS once a second while on, on a fault change, and once
     * more when everything has gone off. */
    if ((on && reached(now_ms, dev->next_status_ms)) || (!on && dev->was_on) ||
        dev->faults != dev->reported_faults) {
        send_status(dev, 0);
        dev->next_status_ms = now_ms + STATUS_PERIOD_MS;
    }
    dev->was_on = on != 0;
}

void nmp1_device_button(nmp1_device_t *dev)
{
    if (!(dev->info->features & NMP1_FEATURE_BUTTON)) {
        return;
    }
    stop_everything(dev);
    send_event(dev, NMP1_EVENT_BUTTON, NMP1_EVENT_STATE_MOMENTARY, 0);
}

void nmp1_device_link_lost(nmp1_device_t *dev)
{
    /* The host is gone: stop now rather than wait for the watchdog. */
    stop_everything(dev);
    nmp1_rx_reset(&dev->rx);
#ifdef NMP1_DEVICE_AUTH
    nmp1_auth_end(&dev->auth); /* its session goes with it */
#endif
}
