// segment-score: scores the customers of CSV files against a model on segment-server through
// the ScoreStream RPC, speaking gRPC itself over HTTP/2 (libnghttp2, cleartext h2c) with messages
// from protobuf-c. Prints CSV `customer_id,segment_id,segment_name`, one row per customer.
//
//   segment-score [--feature-rows] [--customer-column NAME] HOST:PORT MODEL_REF FILE.csv [FILE.csv...]
//
// MODEL_REF is NAME, NAME@VERSION or NAME@ALIAS. The files (one header, the same in each) hold what
// the model was trained on: order lines, aggregated per customer by the server, or one row per
// customer, sent as CSV; or, with --feature-rows, the customer id in the first column and the
// model's features (GetModel's expected_columns, any order) in the others, all numbers, sent as
// FeatureRows. Any size: the input is held in memory and sent as a stream of requests of about
// 1 MiB. Order lines are grouped so that each customer's rows travel in one request, whatever
// file they are in: the customer column is CustomerID unless --customer-column names another
// (the name the model was trained with; when the files lack it, rows are cut anywhere, right
// for one row per customer, and a customer found in two requests stops the run). Recency is
// measured to one day for all, the segment CLI's: a request the server measured to an earlier
// day than the latest one it names is scored again to that day, so the answers equal `segment
// score` on the same files.
//
// SEGMENT_TOKEN, when set, is sent as `authorization: Bearer TOKEN`; SEGMENT_TIMEOUT (seconds,
// default 30, per started 10 MiB of input) as grpc-timeout. On a failed call or request it prints
// "error: STATUS (code): message" and exits with the segment CLI's codes: 3 not found, 4 invalid
// input, 5 unreachable or deadline, 6 conflict, 8 denied, 1 other, 64 usage.
//
// gRPC over HTTP/2, as this file implements it: a POST to /package.Service/Method with
// content-type application/grpc and te: trailers; the body is length-prefixed messages (one byte
// compressed flag, four bytes big-endian length, the message); the status comes in grpc-status
// and grpc-message (percent-encoded) in the trailers, or in the headers of a trailers-only reply.
// A stream's requests go out while its responses come in (non-blocking socket, poll), so neither
// side waits on the other's full buffers.
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <fcntl.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <nghttp2/nghttp2.h>
#include <poll.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "segmentation/v1/scoring.pb-c.h"

#define CHUNK_BYTES (1u << 20)   // CSV bytes per request, well under the server's 16 MiB limit
#define MAX_REPLY (1u << 30)     // all of a stream's responses together
#define MAX_COLUMNS 1000

enum { EXIT_OTHER = 1, EXIT_NOT_FOUND = 3, EXIT_INVALID = 4, EXIT_UNREACHABLE = 5, EXIT_CONFLICT = 6,
       EXIT_DENIED = 8, EXIT_USAGE = 64 };

static const char *status_names[] = {
    "OK", "CANCELLED", "UNKNOWN", "INVALID_ARGUMENT", "DEADLINE_EXCEEDED", "NOT_FOUND", "ALREADY_EXISTS",
    "PERMISSION_DENIED", "RESOURCE_EXHAUSTED", "FAILED_PRECONDITION", "ABORTED", "OUT_OF_RANGE",
    "UNIMPLEMENTED", "INTERNAL", "UNAVAILABLE", "DATA_LOSS", "UNAUTHENTICATED"};

// A growable byte buffer.
struct bytes {
    uint8_t *data;
    size_t length, capacity;
};

static void append(struct bytes *b, const void *data, size_t length) {
    if (b->length + length > b->capacity) {
        size_t capacity = b->capacity ? b->capacity * 2 : 65536;
        while (capacity < b->length + length) capacity *= 2;
        b->data = realloc(b->data, capacity);
        if (!b->data) { fputs("error: out of memory\n", stderr); exit(EXIT_OTHER); }
        b->capacity = capacity;
    }
    memcpy(b->data + b->length, data, length);
    b->length += length;
}

// One call: the framed request messages out, the framed response messages and the status in.
struct call {
    const uint8_t *request;
    size_t request_length, request_sent;
    struct bytes reply;
    int http_status;
    int grpc_status;  // -1 until one arrives
    char grpc_message[1024];
    bool closed;
    bool too_large;  // the reply passed MAX_REPLY
    uint32_t close_error;
    int fd;  // the connection's socket
};

// Where to call and how: the server, the token and the deadline, the same for every call.
struct target {
    char host[256];
    const char *port, *authority, *token;
    long timeout_seconds;
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

static void die_status(int status, const char *message) {
    fprintf(stderr, "error: %s (%d): %s\n", status >= 0 && status < 17 ? status_names[status] : "UNKNOWN", status, message);
    exit(exit_code(status));
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
    if (call->reply.length + length > MAX_REPLY) {
        call->too_large = true;
        return NGHTTP2_ERR_CALLBACK_FAILURE;
    }
    append(&call->reply, data, length);
    return 0;
}

static int on_close(nghttp2_session *session, int32_t stream, uint32_t error, void *user) {
    (void)session; (void)stream;
    struct call *call = user;
    call->closed = true;
    call->close_error = error;
    return 0;
}

// The server's END_STREAM ends the call even while our requests are still being sent: a server
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
    if (n < 0) return errno == EAGAIN || errno == EWOULDBLOCK ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
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
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

static double now_seconds(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return (double)t.tv_sec + (double)t.tv_nsec / 1e9;
}

// Runs one call to `path` with the framed messages in `body` on a connection of its own; returns
// with the call's status and framed replies in `call`, or exits when the connection fails.
static void run_call(const struct target *target, const char *path, const struct bytes *body, long timeout_seconds,
                     struct call *call) {
    *call = (struct call){.request = body->data, .request_length = body->length, .grpc_status = -1};
    call->fd = connect_to(target->host, target->port);
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

    char authorization[1100], deadline[32];
    snprintf(deadline, sizeof deadline, "%ldS", timeout_seconds);
    nghttp2_nv headers[9];
    size_t count = 0;
#define HEADER(n, v) headers[count++] = (nghttp2_nv){(uint8_t *)(n), (uint8_t *)(v), strlen(n), strlen(v), NGHTTP2_NV_FLAG_NONE}
    HEADER(":method", "POST");
    HEADER(":scheme", "http");
    HEADER(":path", path);
    HEADER(":authority", target->authority);
    HEADER("content-type", "application/grpc");
    HEADER("te", "trailers");
    HEADER("grpc-timeout", deadline);
    HEADER("user-agent", "segment-score-c/1.1");
    if (target->token && *target->token) {
        snprintf(authorization, sizeof authorization, "Bearer %s", target->token);
        HEADER("authorization", authorization);
    }
#undef HEADER
    nghttp2_data_provider provider = {.read_callback = read_body};
    if (nghttp2_submit_request(session, NULL, headers, count, &provider, NULL) < 0) die(EXIT_OTHER, "%s", "cannot submit the request");

    // The server enforces grpc-timeout; this bounds the wait if the server itself goes silent.
    double give_up = now_seconds() + (double)timeout_seconds + 5;
    uint8_t buffer[65536];
    while (!call->closed) {
        if (nghttp2_session_send(session) != 0) die(EXIT_UNREACHABLE, "%s", "UNAVAILABLE: the connection failed while sending");
        struct pollfd wait = {.fd = call->fd, .events = POLLIN | (nghttp2_session_want_write(session) ? POLLOUT : 0)};
        int left_ms = (int)((give_up - now_seconds()) * 1000);
        if (left_ms <= 0 || poll(&wait, 1, left_ms) == 0) die(EXIT_UNREACHABLE, "%s", "DEADLINE_EXCEEDED: no answer from the server in time");
        if (!(wait.revents & (POLLIN | POLLHUP | POLLERR))) continue;
        ssize_t n = recv(call->fd, buffer, sizeof buffer, 0);
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)) continue;
        if (n <= 0) die(EXIT_UNREACHABLE, "%s", "UNAVAILABLE: the server closed the connection");
        if (nghttp2_session_mem_recv(session, buffer, (size_t)n) < 0) {
            if (call->too_large) die(EXIT_INVALID, "%s", "RESOURCE_EXHAUSTED: the replies passed 1 GiB: score fewer files at a time");
            die(EXIT_UNREACHABLE, "%s", "UNAVAILABLE: bad HTTP/2 from the server");
        }
    }
    nghttp2_session_del(session);
    close(call->fd);
    if (call->grpc_status < 0) {
        // No gRPC status (a proxy answered, say): gRPC's mapping of the HTTP status.
        int http = call->http_status;
        call->grpc_status = http == 400 ? 13 : http == 401 ? 16 : http == 403 ? 7 : http == 404 ? 12
                          : (http == 429 || http == 502 || http == 503 || http == 504) ? 14 : 2;
        snprintf(call->grpc_message, sizeof call->grpc_message, "the reply carried no grpc-status (HTTP %d, HTTP/2 error %u)",
                 http, call->close_error);
    }
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
    *cursor = c > end ? end : c;
    return count;
}

static char *trim(char *text) {
    while (*text == ' ') text++;
    size_t n = strlen(text);
    while (n > 0 && text[n - 1] == ' ') text[--n] = 0;
    return text;
}

// A customer id as the server reads it: spaces trimmed, a float-printed "17850.0" as "17850".
static char *normalized_id(char *text) {
    text = trim(text);
    char *point = strrchr(text, '.');
    if (!point || point == text) return text;
    for (char *c = text; c < point; c++) if (*c < '0' || *c > '9') return text;
    for (char *c = point + 1; *c; c++) if (*c != '0') return text;
    *point = 0;
    return text;
}

// One data row of the input: its bytes in the file as read, and its customer id.
struct row {
    const char *line;
    size_t length;
    const char *customer;  // "" without one; NULL when rows are not grouped
    size_t order;          // position in the input, so sorting keeps each customer's rows in order
};

struct input {
    char header_line[65536];  // the first file's header record, as read
    size_t header_length;
    struct row *rows;
    size_t count, capacity;
    size_t skipped_without_id;
    bool grouped;     // rows grouped by customer (order lines with the customer column)
    size_t customer;  // the customer column's index (SIZE_MAX: none)
};

static char *read_whole(const char *path, size_t *length) {
    FILE *file = fopen(path, "rb");
    if (!file) die(EXIT_USAGE, "cannot read %s", path);
    struct bytes b = {0};
    uint8_t buffer[1 << 16];
    size_t n;
    while ((n = fread(buffer, 1, sizeof buffer, file)) > 0) append(&b, buffer, n);
    if (ferror(file)) die(EXIT_USAGE, "cannot read %s", path);
    fclose(file);
    append(&b, "", 1);  // NUL-terminated; the terminator is not counted
    *length = b.length - 1;
    return (char *)b.data;
}

// Reads a file's rows into `input`; the first file decides the header and whether rows are
// grouped (its header has the customer column), later files must have the same header.
static void read_rows(const char *path, const char *customer_column, struct input *input, bool first) {
    size_t length;
    char *text = read_whole(path, &length);
    char *scratch = malloc(length + 1);  // parsed in place; `text` keeps the rows as read
    memcpy(scratch, text, length + 1);
    char *cursor = scratch, *end = scratch + length, *fields[MAX_COLUMNS];
    size_t columns = csv_record(&cursor, end, fields, MAX_COLUMNS);
    size_t header_length = (size_t)(cursor - scratch);
    if (columns == 0) die(EXIT_USAGE, "%s is empty", path);
    if (columns > MAX_COLUMNS || header_length >= sizeof input->header_line) die(EXIT_USAGE, "%s has a header over 1000 columns or 64 KiB", path);
    size_t customer = input->customer;
    if (first) {
        memcpy(input->header_line, text, header_length);
        input->header_length = header_length;
        for (size_t j = 0; j < columns; j++) {
            if (customer == SIZE_MAX && strcasecmp(trim(fields[j]), customer_column) == 0) customer = j;
        }
        input->grouped = customer != SIZE_MAX;
        input->customer = customer;
    } else {
        // Compared as read, but for the line ending.
        size_t a = header_length, b = input->header_length;
        while (a > 0 && (text[a - 1] == '\n' || text[a - 1] == '\r')) a--;
        while (b > 0 && (input->header_line[b - 1] == '\n' || input->header_line[b - 1] == '\r')) b--;
        if (a != b || memcmp(text, input->header_line, a) != 0) die(EXIT_USAGE, "%s: header differs from the first file's", path);
    }
    while (cursor < end) {
        char *start = cursor;
        size_t count = csv_record(&cursor, end, fields, MAX_COLUMNS);
        if (count == 1 && fields[0][0] == 0) continue;  // a blank line
        struct row row = {.line = text + (start - scratch), .length = (size_t)(cursor - start), .order = input->count};
        if (input->grouped) {
            row.customer = customer < count && customer < MAX_COLUMNS ? normalized_id(fields[customer]) : "";
            if (!*row.customer) { input->skipped_without_id++; continue; }
        }
        if (input->count == input->capacity) {
            input->capacity = input->capacity ? input->capacity * 2 : 4096;
            input->rows = realloc(input->rows, input->capacity * sizeof *input->rows);
            if (!input->rows) die(EXIT_OTHER, "%s", "out of memory");
        }
        input->rows[input->count++] = row;
    }
    // `text` and `scratch` stay allocated: the rows point into them until the end.
}

static int by_customer(const void *a, const void *b) {
    const struct row *x = a, *y = b;
    int c = strcmp(x->customer, y->customer);
    return c ? c : (x->order > y->order) - (x->order < y->order);
}

// The requests' CSV texts: the header, then rows up to about CHUNK_BYTES, a customer's rows never
// split between two.
struct chunks {
    struct bytes *texts;
    size_t count;
};

static void add_line(struct bytes *text, const struct row *row) {
    append(text, row->line, row->length);
    if (row->length == 0 || row->line[row->length - 1] != '\n') append(text, "\n", 1);
}

static struct chunks cut(struct input *input) {
    if (input->grouped) qsort(input->rows, input->count, sizeof *input->rows, by_customer);
    struct chunks chunks = {.texts = calloc(input->count + 1, sizeof(struct bytes))};
    struct bytes *current = NULL;
    for (size_t i = 0; i < input->count;) {
        size_t j = i + 1, size = input->rows[i].length + 1;
        while (input->grouped && j < input->count && strcmp(input->rows[j].customer, input->rows[i].customer) == 0) {
            size += input->rows[j++].length + 1;
        }
        if (!current || (current->length + size > CHUNK_BYTES && current->length > input->header_length)) {
            current = &chunks.texts[chunks.count++];
            append(current, input->header_line, input->header_length);
            if (input->header_length == 0 || input->header_line[input->header_length - 1] != '\n') append(current, "\n", 1);
        }
        for (; i < j; i++) add_line(current, &input->rows[i]);
    }
    return chunks;
}

// --feature-rows: a chunk's CSV as FeatureRows (id column first, then the features), parsed from
// a copy: the chunk may be sent again.
static Segmentation__V1__FeatureRows *feature_rows(const struct bytes *chunk) {
    char *cursor = malloc(chunk->length + 1), *end = cursor + chunk->length;
    memcpy(cursor, chunk->data, chunk->length);
    *end = 0;  // for strtod at the very end
    char *header[MAX_COLUMNS];
    size_t columns = csv_record(&cursor, end, header, MAX_COLUMNS);
    if (columns < 2 || columns > MAX_COLUMNS) die(EXIT_USAGE, "%s", "--feature-rows needs a header of an id column and at most 999 feature columns");
    Segmentation__V1__FeatureRows *rows = calloc(1, sizeof *rows);
    segmentation__v1__feature_rows__init(rows);
    rows->n_feature_names = columns - 1;
    rows->feature_names = malloc((columns - 1) * sizeof(char *));
    for (size_t j = 1; j < columns; j++) rows->feature_names[j - 1] = strdup(trim(header[j]));
    size_t capacity = 1024;
    rows->rows = malloc(capacity * sizeof *rows->rows);
    char *fields[MAX_COLUMNS];
    size_t count;
    while ((count = csv_record(&cursor, end, fields, MAX_COLUMNS)) > 0) {
        if (count == 1 && fields[0][0] == 0) continue;  // a blank line
        if (count != columns) die(EXIT_USAGE, "customer '%s' has another number of fields than the header", fields[0]);
        Segmentation__V1__FeatureRow *row = malloc(sizeof *row);
        segmentation__v1__feature_row__init(row);
        row->customer_id = fields[0];
        row->n_values = columns - 1;
        row->values = malloc((columns - 1) * sizeof(double));
        for (size_t j = 1; j < columns; j++) {
            char *stop;
            row->values[j - 1] = strtod(fields[j], &stop);
            // Not a number: sent as NaN, so the server names the customer and field (INVALID_ARGUMENT).
            if (stop == fields[j] || *stop) row->values[j - 1] = NAN;
        }
        if (rows->n_rows == capacity) rows->rows = realloc(rows->rows, (capacity *= 2) * sizeof *rows->rows);
        rows->rows[rows->n_rows++] = row;
    }
    return rows;
}

// Appends one request, framed: a byte 0 (not compressed), the length (4 bytes, big-endian), the message.
static void append_request(struct bytes *body, Segmentation__V1__ScoreRequest *request) {
    size_t packed = segmentation__v1__score_request__get_packed_size(request);
    uint8_t prefix[5] = {0, (uint8_t)(packed >> 24), (uint8_t)(packed >> 16), (uint8_t)(packed >> 8), (uint8_t)packed};
    uint8_t *message = malloc(packed ? packed : 1);
    segmentation__v1__score_request__pack(request, message);
    append(body, prefix, 5);
    append(body, message, packed);
    free(message);
}

// Scores the chunks `wanted` says (all when NULL) in one ScoreStream; each response is kept at
// its request's index in `replies` (replacing an earlier one). A refused request ends the run.
static void score_stream(const struct target *target, struct chunks *chunks, const bool *wanted, bool as_features,
                         Segmentation__V1__ModelRef *ref, char *snapshot, long timeout, Segmentation__V1__ScoreResponse **replies) {
    struct bytes body = {0};
    for (size_t i = 0; i < chunks->count; i++) {
        if (wanted && !wanted[i]) continue;
        char id[32];
        snprintf(id, sizeof id, "%zu", i);
        Segmentation__V1__ScoreRequest request = SEGMENTATION__V1__SCORE_REQUEST__INIT;
        Segmentation__V1__CsvRows csv = SEGMENTATION__V1__CSV_ROWS__INIT;
        request.model = ref;
        request.request_id = id;
        request.snapshot_date = snapshot;
        Segmentation__V1__FeatureRows *rows = NULL;
        if (as_features) {
            request.input_case = SEGMENTATION__V1__SCORE_REQUEST__INPUT_FEATURES;
            request.features = rows = feature_rows(&chunks->texts[i]);
        } else {
            csv.data.data = chunks->texts[i].data;
            csv.data.len = chunks->texts[i].length;
            request.input_case = SEGMENTATION__V1__SCORE_REQUEST__INPUT_CSV;
            request.csv = &csv;
        }
        append_request(&body, &request);
        (void)rows;  // freed with the process: a FeatureRows points into the chunk's text
    }
    struct call call;
    run_call(target, "/segmentation.v1.ScoringService/ScoreStream", &body, timeout, &call);
    if (call.grpc_status != 0) die_status(call.grpc_status, call.grpc_message);
    for (size_t at = 0; at < call.reply.length;) {
        const uint8_t *frame = call.reply.data + at;
        if (call.reply.length - at < 5 || frame[0] != 0) die(EXIT_OTHER, "%s", "INTERNAL: a reply is not an uncompressed gRPC message");
        size_t length = (size_t)frame[1] << 24 | (size_t)frame[2] << 16 | (size_t)frame[3] << 8 | frame[4];
        if (length > call.reply.length - at - 5) die(EXIT_OTHER, "%s", "INTERNAL: a reply's length prefix passes its end");
        Segmentation__V1__ScoreResponse *reply = segmentation__v1__score_response__unpack(NULL, length, frame + 5);
        if (!reply) die(EXIT_OTHER, "%s", "INTERNAL: a reply does not decode as a ScoreResponse");
        if (reply->error) die_status(reply->error->code, reply->error->message);
        char *stop;
        unsigned long index = strtoul(reply->request_id, &stop, 10);
        if (*stop || stop == reply->request_id || index >= chunks->count) die(EXIT_OTHER, "INTERNAL: a reply answers request '%s', not one sent", reply->request_id);
        if (reply->result_case != SEGMENTATION__V1__SCORE_RESPONSE__RESULT_SCORES) die(EXIT_OTHER, "%s", "INTERNAL: a reply holds no scores");
        if (replies[index]) segmentation__v1__score_response__free_unpacked(replies[index], NULL);
        replies[index] = reply;
        at += 5 + length;
    }
    for (size_t i = 0; i < chunks->count; i++) {
        if ((!wanted || wanted[i]) && !replies[i]) die(EXIT_OTHER, "%s", "INTERNAL: the stream ended before every request was answered");
    }
    free(call.reply.data);
    free(body.data);
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

static int by_string(const void *a, const void *b) { return strcmp(*(char *const *)a, *(char *const *)b); }

// Exits when a customer was scored in two requests: their rows were split (order lines without
// the customer column named) and each part was scored alone.
static void refuse_split_customers(Segmentation__V1__ScoreResponse **replies, size_t count, size_t customers,
                                   const char *customer_column, bool grouped) {
    char **ids = malloc((customers + 1) * sizeof *ids);
    size_t n = 0;
    for (size_t i = 0; i < count; i++) {
        for (size_t s = 0; s < replies[i]->scores->n_scores; s++) ids[n++] = replies[i]->scores->scores[s]->customer_id;
    }
    qsort(ids, n, sizeof *ids, by_string);
    for (size_t i = 1; i < n; i++) {
        if (strcmp(ids[i - 1], ids[i]) == 0) {
            fprintf(stderr, "error: customer '%s' was scored in two requests: its order lines were split (%s '%s'); "
                    "name the customer column with --customer-column\n", ids[i],
                    grouped ? "grouped by column" : "the files have no column", customer_column);
            exit(EXIT_INVALID);
        }
    }
    free(ids);
}

// The rows cleaning removed, per rule, summed over the requests: counted, never silent.
static void print_removed(Segmentation__V1__ScoreResponse **replies, size_t count) {
    const char *rules[64];
    long long removed[64];
    size_t kinds = 0;
    for (size_t i = 0; i < count; i++) {
        Segmentation__V1__DataReport *report = replies[i]->data_report;
        for (size_t s = 0; report && s < report->n_steps; s++) {
            const char *rule = *report->steps[s]->rule ? report->steps[s]->rule : report->steps[s]->name;
            size_t k = 0;
            while (k < kinds && strcmp(rules[k], rule) != 0) k++;
            if (k == kinds && kinds < 64) { rules[kinds] = rule; removed[kinds++] = 0; }
            if (k < kinds) removed[k] += report->steps[s]->removed;
        }
    }
    for (size_t k = 0; k < kinds; k++) {
        if (removed[k] > 0) fprintf(stderr, "removed by cleaning: %lld %s\n", removed[k], rules[k]);
    }
}

static void usage(void) {
    fprintf(stderr, "usage: segment-score [--feature-rows] [--customer-column NAME] HOST:PORT MODEL_REF FILE.csv [FILE.csv...]\n");
    exit(EXIT_USAGE);
}

int main(int argc, char **argv) {
    bool as_features = false;
    const char *customer_column = "CustomerID";
    int first = 1;
    for (; first < argc && strncmp(argv[first], "--", 2) == 0; first++) {
        if (strcmp(argv[first], "--feature-rows") == 0) as_features = true;
        else if (strcmp(argv[first], "--customer-column") == 0 && first + 1 < argc) customer_column = argv[++first];
        else usage();
    }
    if (argc - first < 3) usage();
    struct target target = {.port = NULL};
    char *address = argv[first], *colon = strrchr(address, ':');
    if (!colon || colon == address) die(EXIT_USAGE, "'%s' must be HOST:PORT (IPv6: [ADDRESS]:PORT)", address);
    if (address[0] == '[' && colon[-1] == ']') {
        snprintf(target.host, sizeof target.host, "%.*s", (int)(colon - address - 2), address + 1);
    } else {
        snprintf(target.host, sizeof target.host, "%.*s", (int)(colon - address), address);
    }
    target.port = colon + 1;
    target.authority = address;
    target.token = getenv("SEGMENT_TOKEN");
    const char *timeout = getenv("SEGMENT_TIMEOUT");
    long seconds = timeout && *timeout ? strtol(timeout, NULL, 10) : 30;
    if (seconds < 1 || seconds > 99999999) die(EXIT_USAGE, "SEGMENT_TIMEOUT '%s' must be whole seconds, 1 or more", timeout);

    Segmentation__V1__ModelRef ref = SEGMENTATION__V1__MODEL_REF__INIT;
    parse_reference(argv[first + 1], &ref);
    struct input input = {.customer = SIZE_MAX};
    for (int f = first + 2; f < argc; f++) read_rows(argv[f], customer_column, &input, f == first + 2);
    if (as_features) input.grouped = false;  // one row per customer already
    if (input.count == 0) die(EXIT_USAGE, "%s", "the files hold no rows");
    size_t bytes = 0;
    for (size_t i = 0; i < input.count; i++) bytes += input.rows[i].length;
    long deadline = seconds * (long)(1 + bytes / (10u << 20));  // one deadline per stream
    struct chunks chunks = cut(&input);

    Segmentation__V1__ScoreResponse **replies = calloc(chunks.count, sizeof *replies);
    score_stream(&target, &chunks, NULL, as_features, &ref, "", deadline, replies);
    // Every request scored by one version, even if an alias moved meanwhile.
    Segmentation__V1__ModelRef pinned = SEGMENTATION__V1__MODEL_REF__INIT;
    pinned.name = replies[0]->model_name;
    pinned.selector_case = SEGMENTATION__V1__MODEL_REF__SELECTOR_VERSION;
    pinned.version = replies[0]->model_version;
    bool *again = calloc(chunks.count, sizeof *again);
    char *snapshot = "";
    size_t redo = 0, customers = 0;
    for (size_t i = 0; i < chunks.count; i++) {
        const char *day = replies[i]->data_report ? replies[i]->data_report->snapshot_date : "";
        if (strcmp(day, snapshot) > 0) snapshot = (char *)day;
    }
    snapshot = strdup(snapshot);
    for (size_t i = 0; i < chunks.count; i++) {
        const char *day = replies[i]->data_report ? replies[i]->data_report->snapshot_date : "";
        bool moved = strcmp(replies[i]->model_name, pinned.name) != 0 || replies[i]->model_version != pinned.version;
        again[i] = moved || (*day && strcmp(day, snapshot) != 0);
        redo += again[i];
    }
    if (redo > 0) score_stream(&target, &chunks, again, as_features, &pinned, snapshot, deadline, replies);
    for (size_t i = 0; i < chunks.count; i++) customers += replies[i]->scores->n_scores;
    refuse_split_customers(replies, chunks.count, customers, customer_column, input.grouped);

    printf("customer_id,segment_id,segment_name\n");
    for (size_t i = 0; i < chunks.count; i++) {
        for (size_t s = 0; s < replies[i]->scores->n_scores; s++) {
            Segmentation__V1__CustomerScore *score = replies[i]->scores->scores[s];
            print_csv_field(score->customer_id);
            printf(",%d,", score->segment_id);
            print_csv_field(score->segment_name);
            putchar('\n');
        }
    }
    fprintf(stderr, "scored %zu customers with %s@%d in %zu requests", customers, pinned.name, pinned.version, chunks.count);
    if (*snapshot) fprintf(stderr, "; recency measured to %s", snapshot);
    if (redo > 0) fprintf(stderr, " (%zu requests scored again to that day)", redo);
    fputc('\n', stderr);
    if (input.skipped_without_id > 0) fprintf(stderr, "left out: %zu rows without a customer id\n", input.skipped_without_id);
    print_removed(replies, chunks.count);
    return 0;
}
