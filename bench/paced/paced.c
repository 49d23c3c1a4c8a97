// segment-paced: an open-loop, evenly paced gRPC load generator on libnghttp2, for latency.
//
// h2load's rate mode fires each client's timer every max(10 ms, 1/rps), so at thousands of calls
// per second it sends them in bursts of rate/100 at once, and its percentiles measure how fast a
// burst drains. Real callers arrive spread out. This tool sends call i at start + i/rate, round
// robin over the connections, whatever happened before (open loop: a slow server cannot slow the
// arrivals), and times each call from that planned instant to its trailers, so time spent
// waiting to be sent counts too. Every reply must be HTTP 200 with `grpc-status: 0` and carry
// exactly the expected number of DATA bytes, or it counts as an error.
//
//   segment-paced NAME HOST PORT PATH BODY_FILE CALLS_PER_S SECONDS CONNECTIONS EXPECTED_REPLY_BYTES
//
// prints one JSON line: {"name", "calls", "rps", "p50_ms", "p99_ms", "max_ms", "errors"}.
#define _GNU_SOURCE  // ppoll
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <signal.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct call {
    double planned;      // when it was due, seconds on the monotonic clock
    size_t sent;         // body bytes handed to nghttp2
    size_t received;     // DATA bytes of the reply
    int http_status;
    int grpc_status;     // -1 until a grpc-status header arrives
};

struct connection {
    int fd;
    nghttp2_session *session;
};

static const unsigned char *body;
static size_t body_length;
static size_t expected_reply_bytes;
static double *latencies;
static size_t completed, errors;

static double now(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

static void fail(const char *what) {
    fprintf(stderr, "segment-paced: %s: %s\n", what, strerror(errno));
    exit(1);
}

static ssize_t send_bytes(nghttp2_session *session, const uint8_t *data, size_t length, int flags, void *user) {
    (void)session; (void)flags;
    struct connection *c = user;
    ssize_t n = write(c->fd, data, length);
    if (n < 0) return (errno == EAGAIN || errno == EWOULDBLOCK) ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream, uint8_t *buffer, size_t length,
                               uint32_t *flags, nghttp2_data_source *source, void *user) {
    (void)session; (void)stream; (void)user;
    struct call *call = source->ptr;
    size_t n = body_length - call->sent;
    if (n > length) n = length;
    memcpy(buffer, body + call->sent, n);
    call->sent += n;
    if (call->sent == body_length) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t name_length,
                     const uint8_t *value, size_t value_length, uint8_t flags, void *user) {
    (void)flags; (void)user;
    struct call *call = nghttp2_session_get_stream_user_data(session, frame->hd.stream_id);
    if (!call) return 0;
    char text[32] = {0};
    memcpy(text, value, value_length < sizeof text - 1 ? value_length : sizeof text - 1);
    if (name_length == 7 && memcmp(name, ":status", 7) == 0) call->http_status = atoi(text);
    if (name_length == 11 && memcmp(name, "grpc-status", 11) == 0) call->grpc_status = atoi(text);
    return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t stream, const uint8_t *data, size_t length, void *user) {
    (void)flags; (void)data; (void)user;
    struct call *call = nghttp2_session_get_stream_user_data(session, stream);
    if (call) call->received += length;
    return 0;
}

static int on_close(nghttp2_session *session, int32_t stream, uint32_t error_code, void *user) {
    (void)user;
    struct call *call = nghttp2_session_get_stream_user_data(session, stream);
    if (!call) return 0;
    bool ok = error_code == 0 && call->http_status == 200 && call->grpc_status == 0 && call->received == expected_reply_bytes;
    if (ok) latencies[completed++] = now() - call->planned;
    else errors++;
    free(call);
    return 0;
}

static void open_connection(struct connection *c, const char *host, int port) {
    c->fd = socket(AF_INET, SOCK_STREAM, 0);
    if (c->fd < 0) fail("socket");
    struct sockaddr_in address = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    if (inet_pton(AF_INET, host, &address.sin_addr) != 1) { fprintf(stderr, "segment-paced: %s is not an IPv4 address\n", host); exit(64); }
    if (connect(c->fd, (struct sockaddr *)&address, sizeof address) != 0) fail("connect");
    int one = 1;
    setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    fcntl(c->fd, F_SETFL, fcntl(c->fd, F_GETFL) | O_NONBLOCK);

    nghttp2_session_callbacks *callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, send_bytes);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    nghttp2_session_client_new(&c->session, callbacks, c);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_settings_entry settings[] = {
        {NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 10000},
        {NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24},
    };
    nghttp2_submit_settings(c->session, NGHTTP2_FLAG_NONE, settings, 2);
    nghttp2_session_set_local_window_size(c->session, NGHTTP2_FLAG_NONE, 0, 1 << 30);
}

static void submit(struct connection *c, const char *authority, const char *path, double planned) {
    struct call *call = calloc(1, sizeof *call);
    call->planned = planned;
    call->grpc_status = -1;
#define HEADER(n, v) {(uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), NGHTTP2_NV_FLAG_NONE}
    nghttp2_nv headers[] = {
        HEADER(":method", "POST"), HEADER(":scheme", "http"), HEADER(":authority", authority),
        HEADER(":path", path), HEADER("content-type", "application/grpc"), HEADER("te", "trailers"),
    };
    nghttp2_data_provider provider = {.source.ptr = call, .read_callback = read_body};
    if (nghttp2_submit_request(c->session, NULL, headers, 6, &provider, call) < 0) { errors++; free(call); }
}

static void pump(struct connection *c, bool readable) {
    if (readable) {
        uint8_t buffer[65536];
        for (;;) {
            ssize_t n = read(c->fd, buffer, sizeof buffer);
            if (n > 0) {
                if (nghttp2_session_mem_recv(c->session, buffer, (size_t)n) < 0) { fprintf(stderr, "segment-paced: bad HTTP/2 from the server\n"); exit(1); }
            } else if (n == 0) {
                fprintf(stderr, "segment-paced: the server closed a connection\n"); exit(1);
            } else if (errno == EAGAIN || errno == EWOULDBLOCK) {
                break;
            } else {
                fail("read");
            }
        }
    }
    if (nghttp2_session_send(c->session) != 0) { fprintf(stderr, "segment-paced: sending failed\n"); exit(1); }
}

static int compare(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

int main(int argc, char **argv) {
    if (argc != 10) {
        fprintf(stderr, "usage: segment-paced NAME HOST PORT PATH BODY_FILE CALLS_PER_S SECONDS CONNECTIONS EXPECTED_REPLY_BYTES\n");
        return 64;
    }
    const char *name = argv[1], *host = argv[2], *path = argv[4];
    int port = atoi(argv[3]);
    double rate = atof(argv[6]), seconds = atof(argv[7]);
    int connections = atoi(argv[8]);
    expected_reply_bytes = (size_t)atol(argv[9]);
    if (rate <= 0 || seconds <= 0 || connections < 1) { fprintf(stderr, "segment-paced: rate, seconds and connections must be positive\n"); return 64; }
    signal(SIGPIPE, SIG_IGN);

    FILE *file = fopen(argv[5], "rb");
    if (!file) fail(argv[5]);
    static unsigned char buffer[1 << 20];
    body_length = fread(buffer, 1, sizeof buffer, file);
    fclose(file);
    body = buffer;

    size_t total = (size_t)(rate * seconds);
    latencies = calloc(total + 1, sizeof *latencies);
    char authority[300];
    snprintf(authority, sizeof authority, "%s:%d", host, port);
    struct connection *pool = calloc((size_t)connections, sizeof *pool);
    struct pollfd *fds = calloc((size_t)connections, sizeof *fds);
    for (int i = 0; i < connections; i++) {
        open_connection(&pool[i], host, port);
        fds[i].fd = pool[i].fd;
        pump(&pool[i], false);
    }

    double start = now();
    size_t next = 0;
    while (completed + errors < total) {
        double t = now();
        while (next < total && start + (double)next / rate <= t) {
            submit(&pool[next % (size_t)connections], authority, path, start + (double)next / rate);
            next++;
        }
        if (t - start > seconds + 10) break;  // replies still missing 10 s after the last call: give up on them
        for (int i = 0; i < connections; i++) {
            pump(&pool[i], false);
            fds[i].events = POLLIN | (nghttp2_session_want_write(pool[i].session) ? POLLOUT : 0);
        }
        double wait = next < total ? start + (double)next / rate - now() : 0.01;
        if (wait < 0) wait = 0;
        struct timespec timeout = {.tv_sec = (time_t)wait, .tv_nsec = (long)((wait - (double)(time_t)wait) * 1e9)};
        if (ppoll(fds, (nfds_t)connections, &timeout, NULL) < 0 && errno != EINTR) fail("poll");
        for (int i = 0; i < connections; i++) {
            if (fds[i].revents & (POLLIN | POLLOUT | POLLHUP | POLLERR)) pump(&pool[i], (fds[i].revents & (POLLIN | POLLHUP | POLLERR)) != 0);
        }
    }
    double elapsed = now() - start;
    errors += total - completed - errors;  // never answered
    qsort(latencies, completed, sizeof *latencies, compare);
    // The value below which a share q of the calls fall (ms); 0 when none completed.
#define PERCENTILE(q) (completed ? latencies[(size_t)((double)completed * (q))] * 1e3 : 0)
    double p50 = PERCENTILE(0.5), p99 = PERCENTILE(0.99);
    double max = completed ? latencies[completed - 1] * 1e3 : 0;
    printf("{\"name\": \"%s\", \"calls\": %zu, \"rps\": %.1f, \"p50_ms\": %.3f, \"p99_ms\": %.3f, \"max_ms\": %.3f, \"errors\": %zu}\n",
           name, completed, (double)completed / elapsed, p50, p99, max, errors);
    return errors == 0 ? 0 : 1;
}
