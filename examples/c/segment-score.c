// segment-score: scores the customers of a CSV file against a model on segment-server through
// the Score RPC, speaking gRPC itself over HTTP/2 (libnghttp2, cleartext h2c) with messages from
// protobuf-c. Prints CSV `customer_id,segment_id,segment_name`, one row per customer.
//
//   segment-score [--feature-rows] HOST:PORT MODEL_REF FILE.csv
//
// MODEL_REF is NAME, NAME@VERSION or NAME@ALIAS. FILE.csv holds what the model was trained on
// (order lines, aggregated per customer by the server, or one row per customer), sent as CSV; or,
// with --feature-rows, the customer id in the first column and the model's features (GetModel's
// expected_columns, any order) in the others, all numbers, sent as FeatureRows. Either way it goes
// in one message, so it must fit the server's limit (16 MiB by default). SEGMENT_TOKEN, when set, is
// sent as `authorization: Bearer TOKEN`; SEGMENT_TIMEOUT (seconds, default 30) as grpc-timeout.
// On a failed call it prints "error: STATUS (code): message" and exits with the segment CLI's
// codes: 3 not found, 4 invalid input, 5 unreachable or deadline, 6 conflict, 8 denied, 1 other,
// 64 usage.
//
// gRPC over HTTP/2, as this file implements it: a POST to /package.Service/Method with
// content-type application/grpc and te: trailers; the body is length-prefixed messages (one byte
// compressed flag, four bytes big-endian length, the message); the status comes in grpc-status
// and grpc-message (percent-encoded) in the trailers, or in the headers of a trailers-only reply.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <unistd.h>

#include "segmentation/v1/scoring.pb-c.h"

#define MAX_FILE (16u << 20)
#define MAX_REPLY (64u << 20)

enum { EXIT_OTHER = 1, EXIT_NOT_FOUND = 3, EXIT_INVALID = 4, EXIT_UNREACHABLE = 5, EXIT_CONFLICT = 6,
       EXIT_DENIED = 8, EXIT_USAGE = 64 };

static const char *status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

struct call {
    uint8_t *request;  // the framed request body
    size_t request_length, request_sent;
    uint8_t *reply;  // the reply's DATA bytes
    size_t reply_length, reply_capacity;
    int http_status;
    int grpc_status;  // -1 until one arrives
    char grpc_message[1024];
    bool closed;
    bool too_large;  // the reply passed MAX_REPLY
    uint32_t close_error;
    int fd;  // the connection's socket
};

static int exit_code(int status) {
    switch (status) {
    case 5: return EXIT_NOT_FOUND;                        // NOT_FOUND
    case 3: case 8: case 11: return EXIT_INVALID;         // INVALID_ARGUMENT, RESOURCE_EXHAUSTED, OUT_OF_RANGE
    case 14: case 4: return EXIT_UNREACHABLE;             // UNAVAILABLE, DEADLINE_EXCEEDED
    case 6: case 9: case 10: return EXIT_CONFLICT;        // ALREADY_EXISTS, FAILED_PRECONDITION, ABORTED
    case 16: case 7: return EXIT_DENIED;                  // UNAUTHENTICATED, PERMISSION_DENIED
    default: return EXIT_OTHER;
    }
}

static void die(int code, const char *format, const char *detail) {
    fprintf(stderr, "error: ");
    fprintf(stderr, format, detail);
    fputc('\n', stderr);
    exit(code);
}

static int hex_digit(uint8_t c) {
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

// grpc-message is percent-encoded (as the gRPC spec says); a malformed escape passes through as is.
static void percent_decode(const uint8_t *in, size_t length, char *out, size_t capacity) {
    size_t o = 0;
    for (size_t i = 0; i < length && o + 1 < capacity; i++) {
        int high, low;
        if (in[i] == '%' && i + 2 < length && (high = hex_digit(in[i + 1])) >= 0 && (low = hex_digit(in[i + 2])) >= 0) {
            out[o++] = (char)(high * 16 + low);
            i += 2;
        } else {
            out[o++] = (char)in[i];
        }
    }
    out[o] = 0;
}

static int on_header(nghttp2_session *session, const nghttp2_frame *frame, const uint8_t *name, size_t name_length,
                     const uint8_t *value, size_t value_length, uint8_t flags, void *user) {
    (void)session; (void)frame; (void)flags;
    struct call *call = user;
    char text[32];
    if (name_length == 7 && memcmp(name, ":status", 7) == 0) {
        snprintf(text, sizeof text, "%.*s", (int)(value_length < 31 ? value_length : 31), value);
        call->http_status = atoi(text);
    } else if (name_length == 11 && memcmp(name, "grpc-status", 11) == 0) {
        snprintf(text, sizeof text, "%.*s", (int)(value_length < 31 ? value_length : 31), value);
        call->grpc_status = atoi(text);
    } else if (name_length == 12 && memcmp(name, "grpc-message", 12) == 0) {
        percent_decode(value, value_length, call->grpc_message, sizeof call->grpc_message);
    }
    return 0;
}

static int on_data(nghttp2_session *session, uint8_t flags, int32_t stream, const uint8_t *data, size_t length, void *user) {
    (void)session; (void)flags; (void)stream;
    struct call *call = user;
    if (call->reply_length + length > MAX_REPLY) {
        call->too_large = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    if (call->reply_length + length > call->reply_capacity) {
        size_t capacity = call->reply_capacity ? call->reply_capacity * 2 : 65536;
        while (capacity < call->reply_length + length) capacity *= 2;
        uint8_t *grown = realloc(call->reply, capacity);
        if (!grown) return NGHTTP2_ERR_CALLBACK_FAILURE;
        call->reply = grown;
        call->reply_capacity = capacity;
    }
    memcpy(call->reply + call->reply_length, data, length);
    call->reply_length += length;
    return 0;
}

static int on_close(nghttp2_session *session, int32_t stream, uint32_t error, void *user) {
    (void)session; (void)stream;
    struct call *call = user;
    call->closed = true;
    call->close_error = error;
    return 0;
}

// The server's END_STREAM ends the call even while our request is still being sent: a server
// that refuses a call early (no token, unknown method) answers at once and reads no more, so
// waiting to finish sending would wait forever for flow-control credit.
static int on_frame(nghttp2_session *session, const nghttp2_frame *frame, void *user) {
    (void)session;
    struct call *call = user;
    if ((frame->hd.type == NGHTTP2_HEADERS || frame->hd.type == NGHTTP2_DATA) && (frame->hd.flags & NGHTTP2_FLAG_END_STREAM)) {
        call->closed = true;
    }
    return 0;
}

static ssize_t read_body(nghttp2_session *session, int32_t stream, uint8_t *buffer, size_t length, uint32_t *flags,
                         nghttp2_data_source *source, void *user) {
    (void)session; (void)stream; (void)source;
    struct call *call = user;
    size_t left = call->request_length - call->request_sent;
    size_t n = left < length ? left : length;
    memcpy(buffer, call->request + call->request_sent, n);
    call->request_sent += n;
    if (call->request_sent == call->request_length) *flags |= NGHTTP2_DATA_FLAG_EOF;
    return (ssize_t)n;
}

static ssize_t send_bytes(nghttp2_session *session, const uint8_t *data, size_t length, int flags, void *user) {
    (void)session; (void)flags;
    ssize_t n = send(((struct call *)user)->fd, data, length, MSG_NOSIGNAL);
    if (n < 0) return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
    return n;
}

static int connect_to(const char *host, const char *port) {
    struct addrinfo hints = {.ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM}, *found;
    int status = getaddrinfo(host, port, &hints, &found);
    if (status != 0) die(EXIT_UNREACHABLE, "UNAVAILABLE: cannot resolve %s", host);
    int fd = -1;
    for (struct addrinfo *a = found; a; a = a->ai_next) {
        fd = socket(a->ai_family, a->ai_socktype, a->ai_protocol);
        if (fd < 0) continue;
        if (connect(fd, a->ai_addr, a->ai_addrlen) == 0) break;
        close(fd);
        fd = -1;
    }
    freeaddrinfo(found);
    if (fd < 0) die(EXIT_UNREACHABLE, "UNAVAILABLE: cannot connect to %s", host);
    int one = 1;
    setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
    return fd;
}

static uint8_t *read_file(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (!file) die(EXIT_USAGE, "cannot read %s", path);
    uint8_t *data = malloc(MAX_FILE + 1);
    *length = fread(data, 1, MAX_FILE + 1, file);
    fclose(file);
    // Not "split it": files split at arbitrary rows put one customer's orders in two requests,
    // and each request measures recency to its own last day, so segments would change.
    if (*length > MAX_FILE) die(EXIT_USAGE, "%s is over one message's 16 MiB: score it with the segment CLI, which streams it keeping each customer's rows together", path);
    return data;
}

// NAME, NAME@VERSION or NAME@ALIAS; NAME@latest is the latest version.
static void parse_reference(char *text, Segmentation__V1__ModelRef *ref) {
    char *at = strchr(text, '@');
    ref->name = text;
    if (!at) return;
    *at = 0;
    char *selector = at + 1, *end;
    long version = strtol(selector, &end, 10);
    if (*selector && *end == 0) {
        ref->selector_case = SEGMENTATION__V1__MODEL_REF__SELECTOR_VERSION;
        ref->version = (int32_t)version;
    } else if (strcmp(selector, "latest") != 0) {
        ref->selector_case = SEGMENTATION__V1__MODEL_REF__SELECTOR_ALIAS;
        ref->alias = selector;
    }
}

// One CSV record from `*cursor` (quotes and doubled quotes understood): its fields, NUL-terminated
// in place. Returns the field count, 0 at the end of the text.
static size_t csv_record(char **cursor, char *end, char **fields, size_t capacity) {
    char *c = *cursor;
    if (c >= end) return 0;
    size_t count = 0;
    while (c < end) {
        char *out = c, *start = c;
        bool quoted = *c == '"';
        if (quoted) c++;
        while (c < end) {
            if (quoted && *c == '"') {
                if (c + 1 < end && c[1] == '"') { *out++ = '"'; c += 2; continue; }
                quoted = false; c++; continue;
            }
            if (!quoted && (*c == ',' || *c == '\n' || *c == '\r')) break;
            *out++ = *c++;
        }
        char stop = c < end ? *c : '\n';
        *out = 0;
        if (count < capacity) fields[count] = start;
        count++;
        c++;
        if (stop == '\r' && c < end && *c == '\n') c++;
        if (stop != ',') break;
    }
    *cursor = c;
    return count;
}

#define MAX_COLUMNS 1000

// --feature-rows: the file as FeatureRows (id column first, then the features).
static Segmentation__V1__FeatureRows *feature_rows(char *text, size_t length, const char *path) {
    char *cursor = text, *end = text + length;
    char *header[MAX_COLUMNS];
    size_t columns = csv_record(&cursor, end, header, MAX_COLUMNS);
    if (columns < 2 || columns > MAX_COLUMNS) die(EXIT_USAGE, "%s needs a header of an id column and at most 999 feature columns", path);
    Segmentation__V1__FeatureRows *rows = calloc(1, sizeof *rows);
    segmentation__v1__feature_rows__init(rows);
    rows->n_feature_names = columns - 1;
    rows->feature_names = malloc((columns - 1) * sizeof(char *));
    for (size_t j = 1; j < columns; j++) rows->feature_names[j - 1] = strdup(header[j]);
    size_t capacity = 1024;
    rows->rows = malloc(capacity * sizeof *rows->rows);
    char *fields[MAX_COLUMNS];
    size_t line = 1, count;
    while ((count = csv_record(&cursor, end, fields, MAX_COLUMNS)) > 0) {
        line++;
        if (count == 1 && fields[0][0] == 0) continue;  // a blank line
        if (count != columns) {
            char where[64];
            snprintf(where, sizeof where, "%zu", line);
            die(EXIT_USAGE, "line %s has another number of fields than the header", where);
        }
        Segmentation__V1__FeatureRow *row = malloc(sizeof *row);
        segmentation__v1__feature_row__init(row);
        row->customer_id = fields[0];
        row->n_values = columns - 1;
        row->values = malloc((columns - 1) * sizeof(double));
        for (size_t j = 1; j < columns; j++) {
            char *stop;
            row->values[j - 1] = strtod(fields[j], &stop);
            if (stop == fields[j] || *stop) {
                // Not a number: sent as NaN, so the server names the customer and field (INVALID_ARGUMENT).
                row->values[j - 1] = NAN;
            }
        }
        if (rows->n_rows == capacity) rows->rows = realloc(rows->rows, (capacity *= 2) * sizeof *rows->rows);
        rows->rows[rows->n_rows++] = row;
    }
    return rows;
}

static void print_csv_field(const char *text) {
    if (!strpbrk(text, ",\"\n\r")) { fputs(text, stdout); return; }
    putchar('"');
    for (const char *c = text; *c; c++) {
        if (*c == '"') putchar('"');
        putchar(*c);
    }
    putchar('"');
}

int main(int argc, char **argv) {
    bool as_features = argc > 1 && strcmp(argv[1], "--feature-rows") == 0;
    if (as_features) { argv++; argc--; }
    if (argc != 4) {
        fprintf(stderr, "usage: segment-score [--feature-rows] HOST:PORT MODEL_REF FILE.csv\n");
        return EXIT_USAGE;
    }
    char *target = argv[1], *colon = strrchr(target, ':');
    if (!colon || colon == target) die(EXIT_USAGE, "'%s' must be HOST:PORT (IPv6: [ADDRESS]:PORT)", target);
    char host[256];
    if (target[0] == '[' && colon[-1] == ']') {
        snprintf(host, sizeof host, "%.*s", (int)(colon - target - 2), target + 1);
    } else {
        snprintf(host, sizeof host, "%.*s", (int)(colon - target), target);
    }

    Segmentation__V1__ModelRef ref = SEGMENTATION__V1__MODEL_REF__INIT;
    parse_reference(argv[2], &ref);
    size_t file_length;
    uint8_t *file = read_file(argv[3], &file_length);
    Segmentation__V1__CsvRows csv = SEGMENTATION__V1__CSV_ROWS__INIT;
    Segmentation__V1__ScoreRequest request = SEGMENTATION__V1__SCORE_REQUEST__INIT;
    request.model = &ref;
    if (as_features) {
        file[file_length] = 0;
        request.input_case = SEGMENTATION__V1__SCORE_REQUEST__INPUT_FEATURES;
        request.features = feature_rows((char *)file, file_length, argv[3]);
    } else {
        csv.data.data = file;
        csv.data.len = file_length;
        request.input_case = SEGMENTATION__V1__SCORE_REQUEST__INPUT_CSV;
        request.csv = &csv;
    }

    struct call state = {.grpc_status = -1}, *call = &state;
    size_t packed = segmentation__v1__score_request__get_packed_size(&request);
    call->request = malloc(packed + 5);
    call->request[0] = 0;  // not compressed
    call->request[1] = (uint8_t)(packed >> 24);
    call->request[2] = (uint8_t)(packed >> 16);
    call->request[3] = (uint8_t)(packed >> 8);
    call->request[4] = (uint8_t)packed;
    segmentation__v1__score_request__pack(&request, call->request + 5);
    call->request_length = packed + 5;

    call->fd = connect_to(host, colon + 1);
    nghttp2_session_callbacks *callbacks;
    nghttp2_session_callbacks_new(&callbacks);
    nghttp2_session_callbacks_set_send_callback(callbacks, send_bytes);
    nghttp2_session_callbacks_set_on_header_callback(callbacks, on_header);
    nghttp2_session_callbacks_set_on_data_chunk_recv_callback(callbacks, on_data);
    nghttp2_session_callbacks_set_on_stream_close_callback(callbacks, on_close);
    nghttp2_session_callbacks_set_on_frame_recv_callback(callbacks, on_frame);
    nghttp2_session *session;
    nghttp2_session_client_new(&session, callbacks, call);
    nghttp2_session_callbacks_del(callbacks);
    nghttp2_settings_entry settings[] = {{NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24}};
    nghttp2_submit_settings(session, NGHTTP2_FLAG_NONE, settings, 1);
    nghttp2_session_set_local_window_size(session, NGHTTP2_FLAG_NONE, 0, 1 << 24);

    const char *token = getenv("SEGMENT_TOKEN");
    const char *timeout = getenv("SEGMENT_TIMEOUT");
    char authorization[1100], deadline[32];
    long seconds = timeout && *timeout ? strtol(timeout, NULL, 10) : 30;
    if (seconds < 1 || seconds > 99999999) die(EXIT_USAGE, "SEGMENT_TIMEOUT '%s' must be whole seconds, 1 or more", timeout);
    snprintf(deadline, sizeof deadline, "%ldS", seconds);
    // The server enforces grpc-timeout; this bounds the wait if the server itself goes silent.
    struct timeval wait = {.tv_sec = seconds + 5};
    setsockopt(call->fd, SOL_SOCKET, SO_RCVTIMEO, &wait, sizeof wait);
    setsockopt(call->fd, SOL_SOCKET, SO_SNDTIMEO, &wait, sizeof wait);
    nghttp2_nv headers[9];
    size_t count = 0;
#define HEADER(n, v) headers[count++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    HEADER(":method", "POST");
    HEADER(":scheme", "http");
    HEADER(":path", "/segmentation.v1.ScoringService/Score");
    HEADER(":authority", target);
    HEADER("content-type", "application/grpc");
    HEADER("te", "trailers");
    HEADER("grpc-timeout", deadline);
    HEADER("user-agent", "segment-score-c/1.0");
    if (token && *token) {
        snprintf(authorization, sizeof authorization, "Bearer %s", token);
        HEADER("authorization", authorization);
    }
    nghttp2_data_provider body = {.read_callback = read_body};
    if (nghttp2_submit_request(session, NULL, headers, count, &body, NULL) < 0) die(EXIT_OTHER, "%s", "cannot submit the request");

    uint8_t buffer[65536];
    while (!call->closed) {
        if (nghttp2_session_send(session) != 0) die(EXIT_UNREACHABLE, "%s", "UNAVAILABLE: the connection failed while sending");
        ssize_t n = recv(call->fd, buffer, sizeof buffer, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) die(EXIT_UNREACHABLE, "%s", "DEADLINE_EXCEEDED: no answer from the server in time");
        if (n <= 0) die(EXIT_UNREACHABLE, "%s", "UNAVAILABLE: the server closed the connection");
        if (nghttp2_session_mem_recv(session, buffer, (size_t)n) < 0) {
            if (call->too_large) die(EXIT_INVALID, "%s", "RESOURCE_EXHAUSTED: the reply passed 64 MiB: score fewer customers per call");
            die(EXIT_UNREACHABLE, "%s", "UNAVAILABLE: bad HTTP/2 from the server");
        }
    }
    nghttp2_session_del(session);
    close(call->fd);

    if (call->grpc_status < 0) {
        // No gRPC status (a proxy answered, say): gRPC's mapping of the HTTP status.
        int http = call->http_status;
        int status = http == 400 ? 13 : http == 401 ? 16 : http == 403 ? 7 : http == 404 ? 12
                   : (http == 429 || http == 502 || http == 503 || http == 504) ? 14 : 2;
        snprintf(call->grpc_message, sizeof call->grpc_message, "the reply carried no grpc-status (HTTP %d, HTTP/2 error %u)",
                 http, call->close_error);
        call->grpc_status = status;
    }
    if (call->grpc_status != 0) {
        int status = call->grpc_status;
        fprintf(stderr, "error: %s (%d): %s\n", status < 17 ? status_names[status] : "UNKNOWN", status, call->grpc_message);
        return exit_code(status);
    }
    if (call->reply_length < 5 || call->reply[0] != 0) die(EXIT_OTHER, "%s", "INTERNAL: the reply is not one uncompressed gRPC message");
    size_t length = (size_t)call->reply[1] << 24 | (size_t)call->reply[2] << 16 | (size_t)call->reply[3] << 8 | call->reply[4];
    if (length != call->reply_length - 5) die(EXIT_OTHER, "%s", "INTERNAL: the reply's length prefix does not match its body");
    Segmentation__V1__ScoreResponse *reply = segmentation__v1__score_response__unpack(NULL, length, call->reply + 5);
    if (!reply) die(EXIT_OTHER, "%s", "INTERNAL: the reply does not decode as a ScoreResponse");
    if (reply->result_case != SEGMENTATION__V1__SCORE_RESPONSE__RESULT_SCORES) die(EXIT_OTHER, "%s", "INTERNAL: the reply holds no scores");
    printf("customer_id,segment_id,segment_name\n");
    for (size_t i = 0; i < reply->scores->n_scores; i++) {
        Segmentation__V1__CustomerScore *score = reply->scores->scores[i];
        print_csv_field(score->customer_id);
        printf(",%d,", score->segment_id);
        print_csv_field(score->segment_name);
        putchar('\n');
    }
    fprintf(stderr, "scored %zu customers with %s@%d\n", reply->scores->n_scores, reply->model_name, reply->model_version);
    // Rows cleaning removed (no customer id, cancellations, unreadable values...) are counted, never silent.
    if (reply->data_report) {
        for (size_t i = 0; i < reply->data_report->n_steps; i++) {
            Segmentation__V1__CleaningStep *step = reply->data_report->steps[i];
            if (step->removed > 0) fprintf(stderr, "removed by cleaning: %lld %s\n", (long long)step->removed, *step->rule ? step->rule : step->name);
        }
    }
    segmentation__v1__score_response__free_unpacked(reply, NULL);
    free(call->request);
    free(call->reply);
    free(file);
    return 0;
}
