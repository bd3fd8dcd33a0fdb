/* The "ErlDP through C" client of `make bench`: the scenarios of bench/rust/bench.rs, written
 * as a C program would use libErlDP (erldp.h), linked against the shared library; the serve_*
 * scenarios serve and expose with callbacks, and BEAM calls in.
 *
 *   erldp_client SCENARIO PEER COOKIE ARG
 *
 * Prints "key value" lines (see bench/rust/bench.rs for the scenarios and what ARG is). Every
 * message is built with erldp_buf_new and the erldp_encode_* calls, as a C program builds
 * terms without ei; a received one is read from the tree erldp_message_decoded gives, as the
 * Rust client reads the term the connection decoded. */
#define _GNU_SOURCE
#include <erldp.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static erldp_node *node;
static const char *peer;

static void die(const char *what, erldp_status status) {
    fprintf(stderr, "erldp_client: %s: %s: %s\n", what, erldp_status_name(status), erldp_last_error());
    exit(1);
}

#define CHECK(call) do { erldp_status s_ = (call); if (s_ != ERLDP_OK) die(#call, s_); } while (0)

static double now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec / 1e9;
}

static double peak_rss_mib(void) {
    FILE *status = fopen("/proc/self/status", "r");
    char line[256];
    double kib = 0;
    while (status && fgets(line, sizeof line, status)) {
        if (sscanf(line, "VmHWM: %lf", &kib) == 1) break;
    }
    if (status) fclose(status);
    return kib / 1024;
}

/* Parses Erlang text to ETF (only for setup, never timed). */
static erldp_buf *parse(const char *text) {
    erldp_buf *buf;
    CHECK(erldp_term_parse(text, &buf));
    return buf;
}

/* An rpc whose result must print as `expected`. */
static void rpc_expect(const char *module, const char *function, const char *args, const char *expected) {
    erldp_buf *argv = parse(args), *result;
    CHECK(erldp_rpc(node, peer, module, function, erldp_buf_data(argv), erldp_buf_len(argv), 120000, &result));
    char *text;
    CHECK(erldp_term_format(erldp_buf_data(result), erldp_buf_len(result), &text));
    if (strcmp(text, expected) != 0) {
        fprintf(stderr, "erldp_client: %s:%s returned %s, expected %s\n", module, function, text, expected);
        exit(1);
    }
    erldp_string_free(text);
    erldp_buf_free(result);
    erldp_buf_free(argv);
}

static void one_way(long n) {
    erldp_mailbox *box;
    CHECK(erldp_mailbox_new(node, NULL, &box));
    static const uint8_t payload[16];
    double t0 = now();
    for (long i = 1; i <= n; i++) {
        erldp_buf *msg;
        CHECK(erldp_buf_new(&msg));
        CHECK(erldp_encode_tuple_header(msg, 3));
        CHECK(erldp_encode_atom(msg, "seq"));
        CHECK(erldp_encode_long(msg, i));
        CHECK(erldp_encode_binary(msg, payload, sizeof payload));
        CHECK(erldp_send_named(box, "sink", peer, erldp_buf_data(msg), erldp_buf_len(msg)));
        erldp_buf_free(msg);
    }
    char args[64], expected[64];
    snprintf(args, sizeof args, "[%ld, 60000]", n);
    snprintf(expected, sizeof expected, "{%ld,true}", n);
    rpc_expect("erldp_bench", "sink_wait", args, expected);
    printf("msgs_per_s %.1f\n", n / (now() - t0));
    erldp_mailbox_close(box);
}

/* The ETF of {Tag, {inbox, OurNode}} and more, for requests to the blaster. */
static erldp_buf *blaster_request(const char *tag, long n) {
    char text[512];
    if (n > 0)
        snprintf(text, sizeof text, "{%s, {inbox, '%s'}, %ld}", tag, erldp_node_name(node), n);
    else
        snprintf(text, sizeof text, "{%s, {inbox, '%s'}}", tag, erldp_node_name(node));
    return parse(text);
}

static void receive_blast(long n) {
    erldp_mailbox *box;
    CHECK(erldp_mailbox_new(node, "inbox", &box));
    erldp_buf *request = blaster_request("blast", n);
    double t0 = now();
    CHECK(erldp_send_named(box, "blaster", peer, erldp_buf_data(request), erldp_buf_len(request)));
    for (long i = 1; i <= n; i++) {
        erldp_message *msg;
        CHECK(erldp_receive(box, 60000, &msg));
        const erldp_term *term;
        CHECK(erldp_message_decoded(msg, &term));
        const erldp_term *seq;
        int64_t value = 0;
        CHECK(erldp_term_get_element(term, 1, &seq));
        CHECK(erldp_term_get_long(seq, &value));
        if (value != i) {
            fprintf(stderr, "erldp_client: message %ld arrived as number %ld\n", i, (long)value);
            exit(1);
        }
        erldp_message_free(msg);
    }
    printf("msgs_per_s %.1f\n", n / (now() - t0));
    erldp_buf_free(request);
    erldp_mailbox_close(box);
}

static erldp_buf *nil;

static void call_node(void) {
    erldp_buf *result;
    CHECK(erldp_rpc(node, peer, "erlang", "node", erldp_buf_data(nil), erldp_buf_len(nil), 5000, &result));
    erldp_buf_free(result);
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void rpc(long n) {
    double *times = malloc(n * sizeof *times);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        double t = now();
        call_node();
        times[i] = (now() - t) * 1e6;
    }
    double total = now() - t0;
    qsort(times, n, sizeof *times, by_value);
    printf("median_us %.2f\np99_us %.2f\ncalls_per_s %.1f\n", times[n / 2], times[n * 99 / 100], n / total);
    free(times);
}

static long per_caller;

static void *caller(void *unused) {
    (void)unused;
    for (long i = 0; i < per_caller; i++) call_node();
    return NULL;
}

static void concurrent(long callers, long calls) {
    pthread_t threads[256];
    per_caller = calls;
    double t0 = now();
    for (long i = 0; i < callers; i++) pthread_create(&threads[i], NULL, caller, NULL);
    for (long i = 0; i < callers; i++) pthread_join(threads[i], NULL);
    printf("calls_per_s %.1f\n", callers * calls / (now() - t0));
}

static void big_out(long bytes) {
    erldp_mailbox *box;
    CHECK(erldp_mailbox_new(node, NULL, &box));
    uint8_t *data = malloc(bytes);
    memset(data, 7, bytes);
    double t0 = now();
    erldp_buf *msg;
    CHECK(erldp_buf_new(&msg));
    CHECK(erldp_encode_binary(msg, data, bytes));
    CHECK(erldp_send_named(box, "bigsink", peer, erldp_buf_data(msg), erldp_buf_len(msg)));
    erldp_buf_free(msg);
    char expected[32];
    snprintf(expected, sizeof expected, "%ld", bytes);
    rpc_expect("erldp_bench", "big_wait", "[60000]", expected);
    printf("mb_per_s %.1f\npeak_rss_mib %.1f\n", bytes / 1e6 / (now() - t0), peak_rss_mib());
    free(data);
    erldp_mailbox_close(box);
}

static void big_in(long bytes) {
    erldp_mailbox *box;
    CHECK(erldp_mailbox_new(node, "inbox", &box));
    erldp_buf *request = blaster_request("big", 0);
    double t0 = now();
    CHECK(erldp_send_named(box, "blaster", peer, erldp_buf_data(request), erldp_buf_len(request)));
    erldp_message *msg;
    CHECK(erldp_receive(box, 60000, &msg));
    const erldp_term *term;
    CHECK(erldp_message_decoded(msg, &term));
    const uint8_t *bin;
    size_t size = 0;
    CHECK(erldp_term_get_binary(term, &bin, &size));
    double elapsed = now() - t0;
    if ((long)size != bytes) {
        fprintf(stderr, "erldp_client: got %zu bytes, expected %ld\n", size, bytes);
        exit(1);
    }
    printf("mb_per_s %.1f\npeak_rss_mib %.1f\n", bytes / 1e6 / elapsed, peak_rss_mib());
    erldp_message_free(msg);
    erldp_buf_free(request);
    erldp_mailbox_close(box);
}

/* {add, A, B} (a call) or [A, B] (an rpc's arguments) -> A + B: the answer of the served
 * name bench_calc and of the exposed bench_math:add/2, as a C program writes them. */
static void add(void *userdata, erldp_request *request) {
    (void)userdata;
    const uint8_t *data;
    size_t len;
    erldp_term *term;
    CHECK(erldp_request_term(request, &data, &len));
    CHECK(erldp_term_decode(data, len, &term));
    size_t first = erldp_request_kind(request) == ERLDP_REQ_RPC ? 0 : 1;
    const erldp_term *a, *b;
    int64_t x, y;
    CHECK(erldp_term_get_element(term, first, &a));
    CHECK(erldp_term_get_element(term, first + 1, &b));
    CHECK(erldp_term_get_long(a, &x));
    CHECK(erldp_term_get_long(b, &y));
    erldp_term_free(term);
    erldp_buf *sum;
    CHECK(erldp_buf_new(&sum));
    CHECK(erldp_encode_long(sum, x + y));
    CHECK(erldp_request_reply(request, erldp_buf_data(sum), erldp_buf_len(sum)));
    erldp_buf_free(sum);
}

/* BEAM calls in: the peer's serve_driver has `callers` processes make `calls` calls each, of
 * `kind` call (gen_server:call to bench_calc) or erpc (bench_math:add/2), and sends the result
 * to our bench_result mailbox; the callbacks run on the reader when `on_reader`. */
static void serve(const char *kind, long calls, long callers, bool on_reader) {
    erldp_served *calc;
    erldp_exposed *math;
    erldp_mailbox *result;
    erldp_serve_options options;
    CHECK(erldp_serve_options_init(&options));
    options.on_reader = on_reader;
    CHECK(erldp_serve_with(node, "bench_calc", &options, add, NULL, &calc));
    CHECK(erldp_expose_with(node, "bench_math", &options, add, NULL, &math));
    CHECK(erldp_mailbox_new(node, "bench_result", &result));
    const char *us = erldp_node_name(node);
    char text[512];
    if (strcmp(kind, "call") == 0)
        snprintf(text, sizeof text, "{call, {bench_calc, '%s'}, %ld, %ld, {bench_result, '%s'}}", us,
                 calls, callers, us);
    else
        snprintf(text, sizeof text, "{erpc, {'%s', bench_math}, %ld, %ld, {bench_result, '%s'}}", us,
                 calls, callers, us);
    erldp_buf *request = parse(text);
    CHECK(erldp_send_named(result, "serve_driver", peer, erldp_buf_data(request), erldp_buf_len(request)));
    erldp_message *msg;
    CHECK(erldp_receive(result, 120000, &msg));
    const uint8_t *data;
    size_t len;
    CHECK(erldp_message_term(msg, &data, &len));
    erldp_term *term;
    CHECK(erldp_term_decode(data, len, &term));
    double values[3];
    for (size_t i = 0; i < 3; i++) {
        const erldp_term *value;
        CHECK(erldp_term_get_element(term, i + 1, &value));
        CHECK(erldp_term_get_double(value, &values[i]));
    }
    printf("median_us %.2f\np99_us %.2f\ncalls_per_s %.1f\n", values[0], values[1], values[2]);
    erldp_term_free(term);
    erldp_message_free(msg);
    erldp_buf_free(request);
    erldp_mailbox_close(result);
    erldp_exposed_close(math);
    erldp_served_close(calc);
}

/* The corpus file: each term as a 4-byte big-endian length and its ETF. */
static void codec(const char *path) {
    FILE *file = fopen(path, "rb");
    if (!file) {
        perror(path);
        exit(1);
    }
    size_t count = 0, cap = 0;
    uint8_t **terms = NULL;
    size_t *lens = NULL;
    uint8_t head[4];
    while (fread(head, 1, 4, file) == 4) {
        size_t len = (size_t)head[0] << 24 | head[1] << 16 | head[2] << 8 | head[3];
        if (count == cap) {
            cap = cap ? cap * 2 : 256;
            terms = realloc(terms, cap * sizeof *terms);
            lens = realloc(lens, cap * sizeof *lens);
        }
        terms[count] = malloc(len);
        if (fread(terms[count], 1, len, file) != len) {
            fprintf(stderr, "erldp_client: truncated corpus\n");
            exit(1);
        }
        lens[count++] = len;
    }
    fclose(file);
    erldp_term **trees = malloc(count * sizeof *trees);
    for (size_t i = 0; i < count; i++) CHECK(erldp_term_decode(terms[i], lens[i], &trees[i]));

    long rounds = 0;
    double t0 = now(), elapsed;
    do {
        for (size_t i = 0; i < count; i++) {
            erldp_buf *out;
            CHECK(erldp_term_encode(trees[i], &out));
            erldp_buf_free(out);
        }
        rounds++;
    } while ((elapsed = now() - t0) < 0.5);
    printf("encode_ns %.1f\n", elapsed * 1e9 / (rounds * count));
    rounds = 0;
    t0 = now();
    do {
        for (size_t i = 0; i < count; i++) {
            erldp_term *tree;
            CHECK(erldp_term_decode(terms[i], lens[i], &tree));
            erldp_term_free(tree);
        }
        rounds++;
    } while ((elapsed = now() - t0) < 0.5);
    printf("decode_ns %.1f\n", elapsed * 1e9 / (rounds * count));
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: erldp_client SCENARIO PEER COOKIE ARG\n");
        return 2;
    }
    const char *scenario = argv[1], *arg = argv[4];
    peer = argv[2];
    if (strcmp(scenario, "codec") == 0) {
        codec(arg);
        return 0;
    }
    char name[64];
    snprintf(name, sizeof name, "bench_c_%d", (int)getpid());
    CHECK(erldp_node_start(name, argv[3], NULL, &node));
    CHECK(erldp_connect(node, peer));
    nil = parse("[]");
    long n = atol(arg);
    if (strcmp(scenario, "send") == 0) one_way(n);
    else if (strcmp(scenario, "receive") == 0) receive_blast(n);
    else if (strcmp(scenario, "rpc") == 0) rpc(n);
    else if (strcmp(scenario, "concurrent") == 0) concurrent(16, n);
    else if (strcmp(scenario, "big_out") == 0) big_out(n);
    else if (strcmp(scenario, "big_in") == 0) big_in(n);
    else if (strcmp(scenario, "serve_call") == 0) serve("call", n, 1, false);
    else if (strcmp(scenario, "serve_concurrent") == 0) serve("call", n, 16, false);
    else if (strcmp(scenario, "serve_erpc") == 0) serve("erpc", n, 1, false);
    else if (strcmp(scenario, "serve_call_on_reader") == 0) serve("call", n, 1, true);
    else if (strcmp(scenario, "serve_concurrent_on_reader") == 0) serve("call", n, 16, true);
    else {
        fprintf(stderr, "erldp_client: unknown scenario %s\n", scenario);
        return 2;
    }
    erldp_buf_free(nil);
    erldp_node_close(node);
    return 0;
}
