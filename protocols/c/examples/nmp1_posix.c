/* A POSIX harness for the NMP/1 device skeleton: serves one simulated device
 * on a pseudo-terminal (--pty) or on TCP (--tcp HOST:PORT, port 0 picks one).
 * Prints the device URL on its first line, e.g. serial:///dev/pts/3 or
 * tcp://127.0.0.1:40123, and runs until SIGINT or SIGTERM. SIGUSR1 presses the
 * button. The hardware is simulated: motors are numbers, the heater warms a
 * thermal mass at 2 C/s, and the device runs on mains power. */
#define _XOPEN_SOURCE 600

#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <termios.h>
#include <time.h>
#include <unistd.h>

#include "nmp1_device.h"

#define TICK_MS 5
#define AMBIENT_CDEG 2500 /* 25.00 C, in 0.01 C */

typedef struct {
    int fd;                  /* where frames go: the pty master or the TCP client */
    uint8_t motors[NMP1_MAX_ZONES];
    uint8_t heater_pct;
    long temperature_cdeg;   /* 0.01 C */
    uint32_t thermal_ms;
} board_t;

static volatile sig_atomic_t stopping;
static volatile sig_atomic_t button;

static void on_signal(int signo)
{
    if (signo == SIGUSR1) {
        button = 1;
    } else {
        stopping = 1;
    }
}

static uint32_t now_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint32_t)((uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u);
}

/* -- the simulated hardware (the HAL) --------------------------------------------- */

static void hal_send(void *context, const uint8_t *frame, size_t length)
{
    board_t *board = (board_t *)context;
    size_t done = 0;
    while (board->fd >= 0 && done < length) {
        ssize_t n = write(board->fd, frame + done, length - done);
        if (n < 0 && errno == EINTR) {
            continue;
        }
        if (n <= 0) {
            return; /* a full line drops bytes, as a UART does */
        }
        done += (size_t)n;
    }
}

static void hal_set_motor(void *context, uint8_t zone, uint8_t level)
{
    ((board_t *)context)->motors[zone] = level;
}

static void hal_set_heater(void *context, uint8_t power_pct)
{
    ((board_t *)context)->heater_pct = power_pct;
}

static int16_t hal_read_temperature_dc(void *context)
{
    return (int16_t)(((board_t *)context)->temperature_cdeg / 10);
}

static void board_physics(board_t *board, uint32_t now)
{
    while (now - board->thermal_ms >= 100u) { /* 100 ms steps */
        board->thermal_ms += 100u;
        board->temperature_cdeg += board->heater_pct * 20 / 100;        /* up to 2 C/s */
        board->temperature_cdeg -= (board->temperature_cdeg - AMBIENT_CDEG) / 200; /* losses */
    }
}

/* -- the device ------------------------------------------------------------------ */

static nmp1_info_t info;

static void describe(nmp1_info_t *i)
{
    static const struct {
        uint8_t position;
        const char *name;
    } zones[] = {{NMP1_ZONE_NECK_LEFT, "left neck"},
                 {NMP1_ZONE_NECK_RIGHT, "right neck"},
                 {NMP1_ZONE_SHOULDER_LEFT, "left shoulder"},
                 {NMP1_ZONE_SHOULDER_RIGHT, "right shoulder"}};
    uint8_t z;
    memset(i, 0, sizeof *i);
    i->protocol_version = NMP1_VERSION;
    i->fw_major = 0;
    i->fw_minor = 1;
    i->fw_patch = 0;
    i->features = NMP1_FEATURE_HEAT | NMP1_FEATURE_PATTERNS | NMP1_FEATURE_BUTTON |
                  NMP1_FEATURE_TEMPERATURE_SENSOR;
    i->intensity_steps = 10;
    i->watchdog_ms = 1500;
    i->auto_off_default_s = 900;
    i->auto_off_max_s = 1800;
    i->heat_limit_dc = 450;
    i->battery_mah = 0;
    i->pattern_slots = NMP1_DEVICE_PATTERN_SLOTS;
    i->pattern_max_steps = NMP1_DEVICE_PATTERN_STEPS;
    i->min_gap_ms = 20;
    strcpy(i->model, "NMP1-C-SKELETON");
    strcpy(i->serial, "C-0001");
    i->heat_targets_dc_count = 3;
    i->heat_targets_dc[0] = 380;
    i->heat_targets_dc[1] = 400;
    i->heat_targets_dc[2] = 420;
    i->zones_count = (uint8_t)(sizeof zones / sizeof zones[0]);
    for (z = 0; z < i->zones_count; z++) {
        i->zones[z].position = zones[z].position;
        strcpy(i->zones[z].name, zones[z].name);
    }
}

#ifdef NMP1_DEVICE_AUTH
/* -- authenticated mode (--key HEX) ------------------------------------------------ */

static uint8_t secret[NMP1_AUTH_KEY_SIZE];

static void hal_random(void *context, uint8_t *out, size_t n)
{
    FILE *source = fopen("/dev/urandom", "rb");
    (void)context;
    if (source == NULL || fread(out, 1, n, source) != n) {
        perror("/dev/urandom"); /* a nonce that could repeat must never be used */
        exit(1);
    }
    fclose(source);
}

/* The secret from 64 hex digits; 0 when the text is not that. */
static int parse_secret(const char *text)
{
    size_t i;
    unsigned byte;
    if (strlen(text) != 2u * NMP1_AUTH_KEY_SIZE) {
        return 0;
    }
    for (i = 0; i < NMP1_AUTH_KEY_SIZE; i++) {
        if (sscanf(text + 2u * i, "%2x", &byte) != 1) {
            return 0;
        }
        secret[i] = (uint8_t)byte;
    }
    return 1;
}
#endif

/* -- links ------------------------------------------------------------------------ */

static int open_pty(void)
{
    struct termios tio;
    const char *name;
    int master = posix_openpt(O_RDWR | O_NOCTTY);
    int slave;
    if (master < 0 || grantpt(master) != 0 || unlockpt(master) != 0 ||
        (name = ptsname(master)) == NULL) {
        perror("pseudo-terminal");
        return -1;
    }
    /* Hold the slave open: the host may close and reopen it without the
     * master seeing a hang-up, as a UART never sees its host leave. */
    slave = open(name, O_RDWR | O_NOCTTY);
    if (slave < 0 || tcgetattr(slave, &tio) != 0) {
        perror(name);
        return -1;
    }
    tio.c_iflag &= (tcflag_t) ~(IGNBRK | BRKINT | PARMRK | ISTRIP | INLCR | IGNCR | ICRNL | IXON);
    tio.c_oflag &= (tcflag_t)~OPOST;
    tio.c_lflag &= (tcflag_t) ~(ECHO | ECHONL | ICANON | ISIG | IEXTEN);
    tio.c_cflag &= (tcflag_t) ~(CSIZE | PARENB);
    tio.c_cflag |= CS8;
    tcsetattr(slave, TCSANOW, &tio);
    fcntl(master, F_SETFL, fcntl(master, F_GETFL) | O_NONBLOCK);
    printf("serial://%s\n", name);
    fflush(stdout);
    return master;
}

static int open_listener(const char *spec)
{
    struct sockaddr_in addr;
    socklen_t len = sizeof addr;
    char host[64];
    const char *colon = strrchr(spec, ':');
    int one = 1;
    int fd;
    if (colon == NULL || (size_t)(colon - spec) >= sizeof host) {
        fprintf(stderr, "--tcp takes HOST:PORT, e.g. 127.0.0.1:0, got %s\n", spec);
        return -1;
    }
    memcpy(host, spec, (size_t)(colon - spec));
    host[colon - spec] = '\0';
    memset(&addr, 0, sizeof addr);
    addr.sin_family = AF_INET;
    addr.sin_port = htons((uint16_t)atoi(colon + 1));
    if (inet_pton(AF_INET, host, &addr.sin_addr) != 1) {
        fprintf(stderr, "--tcp: %s is not an IPv4 address\n", host);
        return -1;
    }
    fd = socket(AF_INET, SOCK_STREAM, 0);
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    if (fd < 0 || bind(fd, (struct sockaddr *)&addr, sizeof addr) != 0 || listen(fd, 1) != 0 ||
        getsockname(fd, (struct sockaddr *)&addr, &len) != 0) {
        perror("tcp");
        return -1;
    }
    printf("tcp://%s:%u\n", host, (unsigned)ntohs(addr.sin_port));
    fflush(stdout);
    return fd;
}

int main(int argc, char **argv)
{
    static nmp1_device_t device; /* static: the receiver and the state, no heap */
    static board_t board;
    nmp1_hal_t hal;
    struct sigaction sa;
    int link = -1;     /* pty master, or the TCP client */
    int listener = -1; /* TCP only */
    uint8_t buf[512];

    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGUSR1, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);

#ifdef NMP1_DEVICE_AUTH
    int keyed = argc >= 4 && strcmp(argv[argc - 2], "--key") == 0;
    if (keyed && !parse_secret(argv[argc - 1])) {
        fprintf(stderr, "--key takes the secret as 64 hexadecimal digits\n");
        return 2;
    }
    if (keyed) {
        argc -= 2;
    }
#endif
    if (argc == 2 && strcmp(argv[1], "--pty") == 0) {
        link = open_pty();
        if (link < 0) {
            return 1;
        }
    } else if (argc == 3 && strcmp(argv[1], "--tcp") == 0) {
        listener = open_listener(argv[2]);
        if (listener < 0) {
            return 1;
        }
    } else {
        fprintf(stderr, "usage: %s --pty | --tcp HOST:PORT\n", argv[0]);
        return 2;
    }

    board.fd = link;
    board.temperature_cdeg = AMBIENT_CDEG;
    board.thermal_ms = now_ms();
    hal.context = &board;
    hal.send = hal_send;
    hal.set_motor = hal_set_motor;
    hal.set_heater = hal_set_heater;
    hal.read_temperature_dc = hal_read_temperature_dc;
    hal.read_battery = NULL; /* mains powered */
    describe(&info);
#ifdef NMP1_DEVICE_AUTH
    hal.random = hal_random;
    if (keyed) {
        info.features |= NMP1_FEATURE_AUTH;
    }
#endif
    nmp1_device_init(&device, &info, &hal, now_ms());
#ifdef NMP1_DEVICE_AUTH
    if (keyed) {
        nmp1_device_use_key(&device, secret);
    }
#endif

    while (!stopping) {
        struct pollfd fds[2];
        nfds_t n = 0;
        uint32_t now;
        if (link >= 0) {
            fds[n].fd = link;
            fds[n].events = POLLIN;
            n++;
        }
        if (listener >= 0) {
            fds[n].fd = listener;
            fds[n].events = POLLIN;
            n++;
        }
        if (poll(fds, n, TICK_MS) < 0 && errno != EINTR) {
            perror("poll");
            break;
        }
        now = now_ms();
        board_physics(&board, now);
        if (button) {
            button = 0;
            nmp1_device_button(&device);
        }
        nmp1_device_tick(&device, now);
        if (link >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR))) {
            ssize_t got = read(link, buf, sizeof buf);
            if (got > 0) {
                nmp1_device_receive(&device, buf, (size_t)got);
            } else if (listener >= 0 && (got == 0 || (errno != EAGAIN && errno != EINTR))) {
                close(link); /* the TCP host went away */
                link = board.fd = -1;
                nmp1_device_link_lost(&device);
            }
        }
        if (listener >= 0 && (fds[n - 1].revents & POLLIN)) {
            int client = accept(listener, NULL, NULL);
            if (client >= 0 && link >= 0) {
                close(client); /* Choice: one host at a time; a second is refused */
            } else if (client >= 0) {
                link = board.fd = client;
            }
        }
    }
    nmp1_device_link_lost(&device); /* leave the hardware stopped */
    if (link >= 0) {
        close(link);
    }
    if (listener >= 0) {
        close(listener);
    }
    return 0;
}
