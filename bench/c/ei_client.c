/* The erl_interface anchor of `make bench`: the scenarios of bench/rust/bench.rs, written as
 * a C node using libei (erlang-dev) would: ei_connect, ei_reg_send, ei_xreceive_msg, ei_rpc.
 *
 *   ei_client SCENARIO PEER COOKIE ARG
 *
 * Prints "key value" lines. ei is not thread-safe on one connection, so each of the
 * concurrent callers is its own C node with its own connection. There is no term tree in ei,
 * so it has no codec measurement. */
#define _GNU_SOURCE
#include <ei.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

static const char *peer, *cookie;

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

static void die(const char *what) {
    fprintf(stderr, "ei_client: %s failed (erl_errno %d)\n", what, erl_errno);
    exit(1);
}

/* A C node named after the process and `index`, connected to the peer. */
static int connect_node(ei_cnode *ec, int index) {
    char name[64];
    snprintf(name, sizeof name, "bench_ei_%d_%d", (int)getpid(), index);
    if (ei_connect_init(ec, name, cookie, (short)(getpid() & 0x7fff) + 1) < 0) die("ei_connect_init");
    int fd = ei_connect(ec, (char *)peer);
    if (fd < 0) die("ei_connect");
    return fd;
}

/* ei_rpc, checking that the answer is the integer `expected`. */
static void rpc_expect_long(ei_cnode *ec, int fd, char *fun, ei_x_buff *args, long expected) {
    ei_x_buff result;
    ei_x_new(&result);
    if (ei_rpc(ec, fd, "erldp_bench", fun, args->buff, args->index, &result) < 0) die(fun);
    /* ei_rpc leaves the answer without a version byte. */
    int index = 0;
    long value;
    if (ei_decode_long(result.buff, &index, &value) < 0 || value != expected) {
        fprintf(stderr, "ei_client: %s did not return %ld\n", fun, expected);
        exit(1);
    }
    ei_x_free(&result);
}

static void one_way(ei_cnode *ec, int fd, long n) {
    static const char payload[16];
    char buf[64];
    double t0 = now();
    for (long i = 1; i <= n; i++) {
        int index = 0;
        ei_encode_version(buf, &index);
        ei_encode_tuple_header(buf, &index, 3);
        ei_encode_atom(buf, &index, "seq");
        ei_encode_long(buf, &index, i);
        ei_encode_binary(buf, &index, payload, sizeof payload);
        if (ei_reg_send(ec, fd, "sink", buf, index) < 0) die("ei_reg_send");
    }
    /* sink_wait(N, 60000) answers {N, InOrder}. */
    ei_x_buff args, result;
    ei_x_new(&args);
    ei_x_encode_list_header(&args, 2);
    ei_x_encode_long(&args, n);
    ei_x_encode_long(&args, 60000);
    ei_x_encode_empty_list(&args);
    ei_x_new(&result);
    if (ei_rpc(ec, fd, "erldp_bench", "sink_wait", args.buff, args.index, &result) < 0) die("sink_wait");
    double elapsed = now() - t0;
    int index = 0, arity;
    long count;
    char in_order[MAXATOMLEN];
    if (ei_decode_tuple_header(result.buff, &index, &arity) < 0 ||
        ei_decode_long(result.buff, &index, &count) < 0 || ei_decode_atom(result.buff, &index, in_order) < 0 ||
        count != n || strcmp(in_order, "true") != 0) {
        fprintf(stderr, "ei_client: the sink did not get every message in order\n");
        exit(1);
    }
    printf("msgs_per_s %.1f\n", n / elapsed);
    ei_x_free(&args);
    ei_x_free(&result);
}

/* Sends {Tag, {inbox, ThisNode}} (and N when positive) to the blaster. */
static void ask_blaster(ei_cnode *ec, int fd, const char *tag, long n) {
    ei_x_buff request;
    ei_x_new_with_version(&request);
    ei_x_encode_tuple_header(&request, n > 0 ? 3 : 2);
    ei_x_encode_atom(&request, tag);
    ei_x_encode_tuple_header(&request, 2);
    ei_x_encode_atom(&request, "inbox");
    ei_x_encode_atom(&request, ei_thisnodename(ec));
    if (n > 0) ei_x_encode_long(&request, n);
    if (ei_reg_send(ec, fd, "blaster", request.buff, request.index) < 0) die("ei_reg_send");
    ei_x_free(&request);
}

/* The next message, answering ticks on the way. */
static void receive_one(int fd, ei_x_buff *x) {
    erlang_msg msg;
    for (;;) {
        x->index = 0;
        int got = ei_xreceive_msg(fd, &msg, x);
        if (got == ERL_MSG) return;
        if (got == ERL_ERROR) die("ei_xreceive_msg");
    }
}

static void receive_blast(ei_cnode *ec, int fd, long n) {
    ei_x_buff x;
    ei_x_new(&x);
    double t0 = now();
    ask_blaster(ec, fd, "blast", n);
    for (long i = 1; i <= n; i++) {
        receive_one(fd, &x);
        int index = 0, version, arity;
        char tag[MAXATOMLEN];
        long seq;
        if (ei_decode_version(x.buff, &index, &version) < 0 || ei_decode_tuple_header(x.buff, &index, &arity) < 0 ||
            ei_decode_atom(x.buff, &index, tag) < 0 || ei_decode_long(x.buff, &index, &seq) < 0 || seq != i) {
            fprintf(stderr, "ei_client: message %ld out of order\n", i);
            exit(1);
        }
    }
    printf("msgs_per_s %.1f\n", n / (now() - t0));
    ei_x_free(&x);
}

static void call_node(ei_cnode *ec, int fd, ei_x_buff *nil, ei_x_buff *result) {
    result->index = 0;
    if (ei_rpc(ec, fd, "erlang", "node", nil->buff, nil->index, result) < 0) die("ei_rpc");
}

static int by_value(const void *a, const void *b) {
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

static void rpc(ei_cnode *ec, int fd, long n) {
    ei_x_buff nil, result;
    ei_x_new(&nil);
    ei_x_encode_empty_list(&nil);
    ei_x_new(&result);
    double *times = malloc(n * sizeof *times);
    double t0 = now();
    for (long i = 0; i < n; i++) {
        double t = now();
        call_node(ec, fd, &nil, &result);
        times[i] = (now() - t) * 1e6;
    }
    double total = now() - t0;
    qsort(times, n, sizeof *times, by_value);
    printf("median_us %.2f\np99_us %.2f\ncalls_per_s %.1f\n", times[n / 2], times[n * 99 / 100], n / total);
    free(times);
    ei_x_free(&nil);
    ei_x_free(&result);
}

struct caller {
    pthread_t thread;
    ei_cnode ec;
    int fd;
    long calls;
};

static void *caller(void *arg) {
    struct caller *self = arg;
    ei_x_buff nil, result;
    ei_x_new(&nil);
    ei_x_encode_empty_list(&nil);
    ei_x_new(&result);
    for (long i = 0; i < self->calls; i++) call_node(&self->ec, self->fd, &nil, &result);
    ei_x_free(&nil);
    ei_x_free(&result);
    return NULL;
}

static void concurrent(long callers, long calls) {
    struct caller *all = calloc(callers, sizeof *all);
    for (long i = 0; i < callers; i++) {
        all[i].fd = connect_node(&all[i].ec, (int)i + 1);
        all[i].calls = calls;
    }
    double t0 = now();
    for (long i = 0; i < callers; i++) pthread_create(&all[i].thread, NULL, caller, &all[i]);
    for (long i = 0; i < callers; i++) pthread_join(all[i].thread, NULL);
    printf("calls_per_s %.1f\n", callers * calls / (now() - t0));
    free(all);
}

static void big_out(ei_cnode *ec, int fd, long bytes) {
    char *data = malloc(bytes);
    memset(data, 7, bytes);
    double t0 = now();
    ei_x_buff msg, args;
    ei_x_new_with_version(&msg);
    ei_x_encode_binary(&msg, data, bytes);
    if (ei_reg_send(ec, fd, "bigsink", msg.buff, msg.index) < 0) die("ei_reg_send");
    ei_x_free(&msg);
    ei_x_new(&args);
    ei_x_encode_list_header(&args, 1);
    ei_x_encode_long(&args, 60000);
    ei_x_encode_empty_list(&args);
    rpc_expect_long(ec, fd, "big_wait", &args, bytes);
    printf("mb_per_s %.1f\npeak_rss_mib %.1f\n", bytes / 1e6 / (now() - t0), peak_rss_mib());
    ei_x_free(&args);
    free(data);
}

static void big_in(ei_cnode *ec, int fd, long bytes) {
    ei_x_buff x;
    ei_x_new(&x);
    double t0 = now();
    ask_blaster(ec, fd, "big", 0);
    receive_one(fd, &x);
    int index = 0, version, type, size;
    if (ei_decode_version(x.buff, &index, &version) < 0 || ei_get_type(x.buff, &index, &type, &size) < 0 ||
        type != ERL_BINARY_EXT || size != bytes) {
        fprintf(stderr, "ei_client: expected a binary of %ld bytes\n", bytes);
        exit(1);
    }
    double elapsed = now() - t0;
    printf("mb_per_s %.1f\npeak_rss_mib %.1f\n", bytes / 1e6 / elapsed, peak_rss_mib());
    ei_x_free(&x);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: ei_client SCENARIO PEER COOKIE ARG\n");
        return 2;
    }
    const char *scenario = argv[1];
    peer = argv[2];
    cookie = argv[3];
    long n = atol(argv[4]);
    if (ei_init() != 0) die("ei_init");
    if (strcmp(scenario, "concurrent") == 0) {
        concurrent(16, n);
        return 0;
    }
    ei_cnode ec;
    int fd = connect_node(&ec, 0);
    if (strcmp(scenario, "send") == 0) one_way(&ec, fd, n);
    else if (strcmp(scenario, "receive") == 0) receive_blast(&ec, fd, n);
    else if (strcmp(scenario, "rpc") == 0) rpc(&ec, fd, n);
    else if (strcmp(scenario, "big_out") == 0) big_out(&ec, fd, n);
    else if (strcmp(scenario, "big_in") == 0) big_in(&ec, fd, n);
    else {
        fprintf(stderr, "ei_client: unknown scenario %s\n", scenario);
        return 2;
    }
    ei_close_connection(fd);
    return 0;
}
