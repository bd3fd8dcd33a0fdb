/* The erl_interface anchor of `make bench` for BEAM calling into a C node: a C node on libei
 * (erlang-dev) that answers gen_server calls by hand, as such C nodes are written: one thread,
 * one connection, ei_xreceive_msg, decode {'$gen_call', {Pid, Tag}, {add, A, B}}, ei_send
 * {Tag, A + B} to Pid.
 *
 *   ei_server SCENARIO PEER COOKIE ARG
 *
 * SCENARIO is serve_call (ARG sequential calls from one BEAM process) or serve_concurrent (16
 * BEAM processes making ARG calls each). The C node connects to PEER, asks its serve_driver
 * (bench/erlang/erldp_bench.erl) to run the callers against {bench_calc, ThisNode} and to send
 * the result to {bench_result, ThisNode}, answers the calls until the result comes, and prints
 * it as "key value" lines. ei cannot answer spawn requests, so erpc into a C node has no row. */
#define _GNU_SOURCE
#include <ei.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

static void die(const char *what) {
    fprintf(stderr, "ei_server: %s failed (erl_errno %d)\n", what, erl_errno);
    exit(1);
}

/* Asks the serve driver on the peer for `callers` processes making `calls` calls each. */
static void ask_driver(ei_cnode *ec, int fd, long calls, long callers) {
    ei_x_buff request;
    ei_x_new_with_version(&request);
    ei_x_encode_tuple_header(&request, 5);
    ei_x_encode_atom(&request, "call");
    ei_x_encode_tuple_header(&request, 2);
    ei_x_encode_atom(&request, "bench_calc");
    ei_x_encode_atom(&request, ei_thisnodename(ec));
    ei_x_encode_long(&request, calls);
    ei_x_encode_long(&request, callers);
    ei_x_encode_tuple_header(&request, 2);
    ei_x_encode_atom(&request, "bench_result");
    ei_x_encode_atom(&request, ei_thisnodename(ec));
    if (ei_reg_send(ec, fd, "serve_driver", request.buff, request.index) < 0) die("ei_reg_send");
    ei_x_free(&request);
}

/* Answers one {'$gen_call', {Pid, Tag}, {add, A, B}}: {Tag, A + B} to Pid. */
static void answer_call(int fd, ei_x_buff *in, ei_x_buff *out) {
    int index = 0, version, arity, tag_start, tag_end;
    char atom[MAXATOMLEN];
    erlang_pid from;
    long a, b;
    if (ei_decode_version(in->buff, &index, &version) < 0 || ei_decode_tuple_header(in->buff, &index, &arity) < 0 ||
        arity != 3 || ei_decode_atom(in->buff, &index, atom) < 0 || strcmp(atom, "$gen_call") != 0 ||
        ei_decode_tuple_header(in->buff, &index, &arity) < 0 || arity != 2 ||
        ei_decode_pid(in->buff, &index, &from) < 0)
        die("decoding a call");
    tag_start = index;
    if (ei_skip_term(in->buff, &index) < 0) die("skipping the tag");
    tag_end = index;
    if (ei_decode_tuple_header(in->buff, &index, &arity) < 0 || arity != 3 ||
        ei_decode_atom(in->buff, &index, atom) < 0 || ei_decode_long(in->buff, &index, &a) < 0 ||
        ei_decode_long(in->buff, &index, &b) < 0)
        die("decoding the request");
    out->index = 0;
    ei_x_encode_version(out);
    ei_x_encode_tuple_header(out, 2);
    ei_x_append_buf(out, in->buff + tag_start, tag_end - tag_start);
    ei_x_encode_long(out, a + b);
    if (ei_send(fd, &from, out->buff, out->index) < 0) die("ei_send");
}

/* Prints {serve_result, MedianUs, P99Us, CallsPerS}. */
static void print_result(ei_x_buff *in) {
    int index = 0, version, arity;
    char atom[MAXATOMLEN];
    double median, p99, rate;
    if (ei_decode_version(in->buff, &index, &version) < 0 || ei_decode_tuple_header(in->buff, &index, &arity) < 0 ||
        arity != 4 || ei_decode_atom(in->buff, &index, atom) < 0 || ei_decode_double(in->buff, &index, &median) < 0 ||
        ei_decode_double(in->buff, &index, &p99) < 0 || ei_decode_double(in->buff, &index, &rate) < 0)
        die("decoding the result");
    printf("median_us %.2f\np99_us %.2f\ncalls_per_s %.1f\n", median, p99, rate);
}

int main(int argc, char **argv) {
    if (argc != 5) {
        fprintf(stderr, "usage: ei_server SCENARIO PEER COOKIE ARG\n");
        return 2;
    }
    const char *scenario = argv[1], *peer = argv[2], *cookie = argv[3];
    long calls = atol(argv[4]), callers;
    if (strcmp(scenario, "serve_call") == 0) callers = 1;
    else if (strcmp(scenario, "serve_concurrent") == 0) callers = 16;
    else {
        fprintf(stderr, "ei_server: unknown scenario %s\n", scenario);
        return 2;
    }
    if (ei_init() != 0) die("ei_init");
    ei_cnode ec;
    char name[64];
    snprintf(name, sizeof name, "bench_eis_%d", (int)getpid());
    if (ei_connect_init(&ec, name, cookie, (short)(getpid() & 0x7fff) + 1) < 0) die("ei_connect_init");
    int fd = ei_connect(&ec, (char *)peer);
    if (fd < 0) die("ei_connect");
    ask_driver(&ec, fd, calls, callers);
    ei_x_buff in, out;
    ei_x_new(&in);
    ei_x_new(&out);
    for (;;) {
        erlang_msg msg;
        in.index = 0;
        int got = ei_xreceive_msg(fd, &msg, &in);
        if (got == ERL_TICK) continue;
        if (got == ERL_ERROR) die("ei_xreceive_msg");
        if (msg.msgtype != ERL_REG_SEND) continue; /* monitors and demonitors of the callers */
        if (strcmp(msg.toname, "bench_calc") == 0) {
            answer_call(fd, &in, &out);
        } else if (strcmp(msg.toname, "bench_result") == 0) {
            print_result(&in);
            break;
        }
    }
    ei_x_free(&in);
    ei_x_free(&out);
    ei_close_connection(fd);
    return 0;
}
