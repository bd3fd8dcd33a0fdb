/* The C ABI tested from C, against a real BEAM node.
 *
 *   test_capi PEER_NODE COOKIE CORPUS_FILE
 *
 * PEER_NODE runs tests/erlang/erldp_test.erl with `echo` (erldp_test:echo_start/1) and `srv`
 * (erldp_test_server) registered; crates/erldp-capi/tests/c_api.rs starts it and runs this
 * program linked against the shared and the static library, plainly and under valgrind.
 * Prints one line per check that fails and per test, then "N passed, N failed"; exits 1 when
 * anything failed. */

#define _GNU_SOURCE
#include <erldp.h>

#include "check.h"

#include <dirent.h>
#include <inttypes.h>
#include <math.h>
#include <pthread.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

static const char *peer;
static const char *cookie;
static const char *corpus_path;

/* ------------------------------------------------------------------ helpers */

/* A term from Erlang syntax; the test fails (and gets an empty buffer) when it does not parse. */
static erldp_buf *parse(const char *text) {
    erldp_buf *buf = NULL;
    erldp_status status = erldp_term_parse(text, &buf);
    if (status != ERLDP_OK) {
        failed_checks++;
        fprintf(stderr, "cannot parse %s: %s\n", text, erldp_last_error());
        erldp_buf_new(&buf);
    }
    return buf;
}

static erldp_buf *parsef(const char *format, ...) {
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    return parse(text);
}

/* The text of a term; the caller frees it with erldp_string_free. */
static char *format(const uint8_t *data, size_t len) {
    char *text = NULL;
    if (erldp_term_format(data, len, &text) != ERLDP_OK) {
        failed_checks++;
        fprintf(stderr, "cannot format a term: %s\n", erldp_last_error());
        return NULL;
    }
    return text;
}

/* Whether the ETF term equals the term written in `expected` (Erlang's =:=). */
static int term_is(const uint8_t *data, size_t len, const char *expected) {
    erldp_buf *want = parse(expected);
    int order = 2;
    erldp_status status =
        erldp_term_compare(data, len, erldp_buf_data(want), erldp_buf_len(want), &order);
    erldp_buf_free(want);
    if (status != ERLDP_OK || order != 0) {
        char *text = format(data, len);
        fprintf(stderr, "  got %s, expected %s\n", text ? text : "(unformattable)", expected);
        erldp_string_free(text);
        return 0;
    }
    return 1;
}

static int buf_is(const erldp_buf *buf, const char *expected) {
    return buf != NULL && term_is(erldp_buf_data(buf), erldp_buf_len(buf), expected);
}

static erldp_node *start_node(const char *prefix, const char *with_cookie) {
    return start_named_node(prefix, with_cookie, NULL);
}

/* A new mailbox of `node`, registered as `name` unless it is NULL. */
static erldp_mailbox *new_mailbox(erldp_node *node, const char *name) {
    erldp_mailbox *box = NULL;
    OK(erldp_mailbox_new(node, name, &box));
    return box;
}

/* module:function called on the peer with the argument list that `format` writes (Erlang
 * syntax). Checks that the rpc returns `expected` and, unless `value` is NULL, that its value is
 * `value`; a failure names the call. Returns the value. */
__attribute__((format(printf, 6, 7)))
static erldp_buf *peer_call(erldp_node *node, const char *module, const char *function,
                            erldp_status expected, const char *value, const char *format, ...) {
    char text[1024];
    va_list args;
    va_start(args, format);
    vsnprintf(text, sizeof text, format, args);
    va_end(args);
    erldp_buf *list = parse(text), *result = NULL;
    erldp_status got = erldp_rpc(node, peer, module, function, erldp_buf_data(list),
                                 erldp_buf_len(list), WAIT_MS, &result);
    erldp_buf_free(list);
    if (got != expected) {
        failed_checks++;
        fprintf(stderr, "%s:%s(%s) returned %s, expected %s (last error: %s)\n", module,
                function, text, erldp_status_name((int)got), erldp_status_name((int)expected),
                erldp_last_error());
    } else if (value != NULL && !buf_is(result, value)) {
        failed_checks++;
        fprintf(stderr, "  from %s:%s(%s)\n", module, function, text);
    }
    return result;
}

/* An rpc that must succeed: its value, for the caller to check and free. */
#define rpc(node, module, function, ...)                                                   \
    peer_call(node, module, function, ERLDP_OK, NULL, __VA_ARGS__)

/* An rpc that must succeed with `value` (Erlang syntax). */
#define rpc_is(node, module, function, value, ...)                                         \
    erldp_buf_free(peer_call(node, module, function, ERLDP_OK, value, __VA_ARGS__))

/* The next message's term checked against `expected`; returns the message for more checks. */
static erldp_message *receive_term(erldp_mailbox *box, const char *expected) {
    erldp_message *msg = NULL;
    OK(erldp_receive(box, WAIT_MS, &msg));
    if (msg == NULL) return NULL;
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(erldp_message_term(msg, &data, &len));
    CHECK(data != NULL && term_is(data, len, expected));
    /* The decoded tree is the same term, and asking again gives the same bytes. */
    const erldp_term *tree = NULL;
    OK(erldp_message_decoded(msg, &tree));
    erldp_buf *again = NULL;
    if (tree != NULL) OK(erldp_term_encode(tree, &again));
    CHECK(buf_is(again, expected));
    erldp_buf_free(again);
    const uint8_t *data2 = NULL;
    size_t len2 = 0;
    OK(erldp_message_term(msg, &data2, &len2));
    CHECK(data2 == data && len2 == len);
    return msg;
}

/* The next message, checked to be a signal of `kind` whose reason is `reason`; returns it for
 * more checks. */
static erldp_message *receive_signal(erldp_mailbox *box, erldp_msg_kind kind,
                                     const char *reason) {
    erldp_message *msg = NULL;
    OK(erldp_receive(box, WAIT_MS, &msg));
    CHECK(erldp_message_kind(msg) == kind);
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(erldp_message_reason(msg, &data, &len));
    CHECK(data != NULL && term_is(data, len, reason));
    return msg;
}

/* Ends the process `pid` (ETF) with `reason` (Erlang syntax): erlang:exit/2 on the peer. */
static void exit_process(erldp_node *node, const erldp_buf *pid, const char *reason) {
    char *pid_text = pid ? format(erldp_buf_data(pid), erldp_buf_len(pid)) : NULL;
    erldp_buf_free(rpc(node, "erlang", "exit", "[%s, %s]", pid_text ? pid_text : "x", reason));
    erldp_string_free(pid_text);
}

/* ------------------------------------------------------------------ tests */

static void test_version(void) {
    CHECK(strcmp(erldp_version(), ERLDP_VERSION) == 0);
    CHECK(ERLDP_VERSION_NUMBER ==
          ERLDP_VERSION_MAJOR * 10000 + ERLDP_VERSION_MINOR * 100 + ERLDP_VERSION_PATCH);
    CHECK(strcmp(erldp_status_name(ERLDP_TIMEOUT), "ERLDP_TIMEOUT") == 0);
    CHECK(strcmp(erldp_status_name(12345), "ERLDP_UNKNOWN_STATUS") == 0);
}

static void test_null_arguments(void) {
    erldp_node *node = start_node("c_null", cookie);
    erldp_mailbox *box = new_mailbox(node, NULL);
    erldp_buf *term = parse("{ok, 1}");
    const uint8_t *etf = erldp_buf_data(term);
    size_t len = erldp_buf_len(term);

    /* Outputs are left alone on failure: these sentinels must survive. */
    erldp_node *node_out = (erldp_node *)&node_out;
    erldp_buf *buf_out = (erldp_buf *)&buf_out;
    erldp_message *msg_out = (erldp_message *)&msg_out;
    char *text_out = (char *)&text_out;

    EXPECT(ERLDP_ERR_ARG, erldp_node_start(NULL, cookie, NULL, &node_out));
    LAST_ERROR_MENTIONS("name is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_x", cookie, NULL, NULL));
    LAST_ERROR_MENTIONS("out is NULL");
    CHECK(node_out == (erldp_node *)&node_out);
    EXPECT(ERLDP_ERR_ARG, erldp_node_options_init(NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_connect(NULL, peer));
    LAST_ERROR_MENTIONS("node is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_connect(node, NULL));
    LAST_ERROR_MENTIONS("peer is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_connect_to(node, peer, NULL, 1));
    EXPECT(ERLDP_ERR_ARG, erldp_ping(node, peer, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_nodes(NULL, &buf_out));
    EXPECT(ERLDP_ERR_ARG, erldp_rpc(node, peer, "erlang", NULL, etf, len, 100, &buf_out));
    LAST_ERROR_MENTIONS("function is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_rpc(node, peer, "erlang", "node", NULL, 0, 100, &buf_out));
    LAST_ERROR_MENTIONS("args is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_call(node, NULL, 0, etf, len, 100, &buf_out));
    EXPECT(ERLDP_ERR_ARG, erldp_call_named(node, "srv", peer, etf, len, 100, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_call_named(node, "srv", NULL, etf, len, 100, &buf_out));
    LAST_ERROR_MENTIONS("peer is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_cast(node, etf, len, NULL, 0));
    EXPECT(ERLDP_ERR_ARG, erldp_cast_named(node, NULL, peer, etf, len));
    EXPECT(ERLDP_ERR_ARG, erldp_cast_named(node, "srv", NULL, etf, len));
    LAST_ERROR_MENTIONS("peer is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_reply(NULL, etf, len, etf, len));
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_new(NULL, NULL, &(erldp_mailbox *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_new(node, NULL, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_register(box, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_pid(NULL, &buf_out));
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_set_queue_limit(NULL, 1));
    CHECK(erldp_mailbox_queue_len(NULL) == 0 && erldp_mailbox_dropped(NULL) == 0);
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_close_with_reason(NULL, etf, len));
    EXPECT(ERLDP_ERR_ARG, erldp_send(NULL, etf, len, etf, len));
    LAST_ERROR_MENTIONS("mailbox is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_send(box, etf, len, NULL, len));
    EXPECT(ERLDP_ERR_ARG, erldp_send_named(box, "echo", NULL, etf, len));
    LAST_ERROR_MENTIONS("node is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_receive(NULL, 0, &msg_out));
    EXPECT(ERLDP_ERR_ARG, erldp_receive(box, 0, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_link(box, NULL, 0));
    EXPECT(ERLDP_ERR_ARG, erldp_unlink(NULL, etf, len));
    EXPECT(ERLDP_ERR_ARG, erldp_monitor(box, etf, len, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_demonitor(box, NULL, 0));
    LAST_ERROR_MENTIONS("reference is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_monitor_node(box, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_demonitor_node(NULL, peer));
    EXPECT(ERLDP_ERR_ARG, erldp_term_parse(NULL, &buf_out));
    EXPECT(ERLDP_ERR_ARG, erldp_term_parse("ok", NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_term_format(NULL, 3, &text_out));
    EXPECT(ERLDP_ERR_ARG, erldp_term_format(etf, len, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_term_compare(etf, len, etf, len, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_term_decode(NULL, 0, &(erldp_term *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_term_encode(NULL, &buf_out));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_atom(NULL, (char[8]){0}, 8));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_long(NULL, &(int64_t){0}));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_size(NULL, &(size_t){0}));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_element(NULL, 0, &(const erldp_term *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_buf_new(NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_encode_atom(NULL, "a"));
    EXPECT(ERLDP_ERR_ARG, erldp_encode_atom(term, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_encode_binary(term, NULL, 1));
    EXPECT(ERLDP_ERR_ARG, erldp_encode_tuple_header(NULL, 2));
    EXPECT(ERLDP_ERR_ARG, erldp_message_term(NULL, &etf, &len));
    EXPECT(ERLDP_ERR_ARG, erldp_message_decoded(NULL, &(const erldp_term *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_last_error_term(NULL));
    CHECK(buf_out == (erldp_buf *)&buf_out);
    CHECK(msg_out == (erldp_message *)&msg_out);
    CHECK(text_out == (char *)&text_out);

    /* Accessors that cannot report a status give a neutral value. */
    CHECK(erldp_buf_data(NULL) == NULL);
    CHECK(erldp_buf_len(NULL) == 0);
    CHECK(erldp_node_name(NULL) == NULL);
    CHECK(erldp_node_port(NULL) == 0);
    CHECK(erldp_message_kind(NULL) == ERLDP_MSG_INVALID);
    CHECK(erldp_term_type(NULL) == ERLDP_TYPE_INVALID);
    LAST_ERROR_MENTIONS("term is NULL");

    /* Freeing NULL is a no-op, as with free(). */
    erldp_buf_free(NULL);
    erldp_message_free(NULL);
    erldp_string_free(NULL);
    erldp_term_free(NULL);
    erldp_mailbox_close(NULL);
    erldp_node_close(NULL);

    erldp_buf_free(term);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

static void test_garbage_arguments(void) {
    erldp_node *node = start_node("c_garbage", cookie);
    erldp_mailbox *box = new_mailbox(node, NULL);
    erldp_buf *out = (erldp_buf *)&out;
    static const uint8_t junk[] = {131, 104, 9, 97};
    static const uint8_t no_version[] = {97, 1};
    static const uint8_t bad_atom[] = {131, 119, 2, 0xff, 0xfe};
    erldp_buf *ok_term = parse("ok");

    EXPECT(ERLDP_ERR_DECODE, erldp_term_format(junk, sizeof junk, &(char *){NULL}));
    LAST_ERROR_MENTIONS("byte");
    EXPECT(ERLDP_ERR_DECODE, erldp_term_format(no_version, sizeof no_version, &(char *){NULL}));
    LAST_ERROR_MENTIONS("131");
    EXPECT(ERLDP_ERR_DECODE, erldp_term_decode(bad_atom, sizeof bad_atom, &(erldp_term *){NULL}));
    EXPECT(ERLDP_ERR_DECODE, erldp_term_format(junk, 0, &(char *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_term_format(junk, SIZE_MAX, &(char *){NULL}));
    LAST_ERROR_MENTIONS("length");
    EXPECT(ERLDP_ERR_DECODE,
           erldp_send(box, junk, sizeof junk, erldp_buf_data(ok_term), erldp_buf_len(ok_term)));
    LAST_ERROR_MENTIONS("dest");
    EXPECT(ERLDP_ERR_ARG, erldp_send(box, erldp_buf_data(ok_term), erldp_buf_len(ok_term),
                                     erldp_buf_data(ok_term), erldp_buf_len(ok_term)));
    LAST_ERROR_MENTIONS("destination");
    EXPECT(ERLDP_ERR_DECODE, erldp_rpc(node, peer, "erlang", "node", junk, sizeof junk, 100, &out));
    LAST_ERROR_MENTIONS("args");
    EXPECT(ERLDP_ERR_ARG, erldp_rpc(node, peer, "erlang", "node", erldp_buf_data(ok_term),
                                    erldp_buf_len(ok_term), 100, &out));
    LAST_ERROR_MENTIONS("list");
    EXPECT(ERLDP_ERR_ARG, erldp_link(box, erldp_buf_data(ok_term), erldp_buf_len(ok_term)));
    LAST_ERROR_MENTIONS("pid");
    EXPECT(ERLDP_ERR_ARG, erldp_demonitor(box, erldp_buf_data(ok_term), erldp_buf_len(ok_term)));
    LAST_ERROR_MENTIONS("reference");
    EXPECT(ERLDP_ERR_ARG, erldp_connect(node, "no at sign"));
    LAST_ERROR_MENTIONS("node name");
    EXPECT(ERLDP_ERR_ARG, erldp_connect(node, "\xff\xfe@host"));
    LAST_ERROR_MENTIONS("UTF-8");
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("bad name!", cookie, NULL, &(erldp_node *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_mailbox_register(box, ""));
    EXPECT(ERLDP_ERR_ARG, erldp_send_named(box, "", peer, erldp_buf_data(ok_term),
                                           erldp_buf_len(ok_term)));
    CHECK(out == (erldp_buf *)&out);

    /* Options filled with garbage: every byte 0xff is no version; with the version right, it
     * makes an epmd_mode of -1. */
    erldp_node_options options;
    memset(&options, 0xff, sizeof options);
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_opts", cookie, &options, &(erldp_node *){NULL}));
    LAST_ERROR_MENTIONS("version 4294967295 is not one");
    options.version = ERLDP_NODE_OPTIONS_VERSION;
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_opts", cookie, &options, &(erldp_node *){NULL}));
    LAST_ERROR_MENTIONS("epmd_mode");
    OK(erldp_node_options_init(&options));
    options.net_ticktime_ms = 1;
    EXPECT(ERLDP_ERR_ARG, erldp_node_start("c_opts", cookie, &options, &(erldp_node *){NULL}));
    LAST_ERROR_MENTIONS("net_ticktime");

    /* Text that is no term. */
    EXPECT(ERLDP_ERR_PARSE, erldp_term_parse("[1, 2", &out));
    LAST_ERROR_MENTIONS("byte");
    EXPECT(ERLDP_ERR_PARSE, erldp_term_parse("{ok, self()}", &out));
    EXPECT(ERLDP_ERR_PARSE, erldp_term_parse("", &out));
    EXPECT(ERLDP_ERR_ARG, erldp_term_parse("\xc3\x28", &out));
    CHECK(out == (erldp_buf *)&out);

    /* Values with no encoding. */
    erldp_buf *building = NULL;
    OK(erldp_buf_new(&building));
    char long_atom[300];
    memset(long_atom, 'a', sizeof long_atom - 1);
    long_atom[sizeof long_atom - 1] = '\0';
    EXPECT(ERLDP_ERR_ENCODE, erldp_encode_atom(building, long_atom));
    LAST_ERROR_MENTIONS("255");
    EXPECT(ERLDP_ERR_ENCODE, erldp_encode_double(building, NAN));
    EXPECT(ERLDP_ERR_ENCODE, erldp_encode_double(building, INFINITY));
    EXPECT(ERLDP_ERR_DECODE, erldp_encode_term(building, junk, sizeof junk));
    CHECK(erldp_buf_len(building) == 1); /* nothing appended by the failures */
    /* An incomplete term is caught where it is used. */
    OK(erldp_encode_tuple_header(building, 2));
    OK(erldp_encode_atom(building, "only_one"));
    EXPECT(ERLDP_ERR_DECODE,
           erldp_term_format(erldp_buf_data(building), erldp_buf_len(building), &(char *){NULL}));
    erldp_buf_free(building);

    /* The reader refuses the wrong type and out-of-range indexes, naming the cause. */
    erldp_buf *tuple = parse("{ok, 1, [a | b], #{k => v}, 123456789012345678901234567890}");
    erldp_term *root = NULL;
    OK(erldp_term_decode(erldp_buf_data(tuple), erldp_buf_len(tuple), &root));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_long(root, &(int64_t){0}));
    LAST_ERROR_MENTIONS("tuple");
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_element(root, 5, &(const erldp_term *){NULL}));
    LAST_ERROR_MENTIONS("index 5");
    const erldp_term *atom = NULL, *big = NULL, *map = NULL;
    OK(erldp_term_get_element(root, 0, &atom));
    char tiny[2];
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_atom(atom, tiny, sizeof tiny));
    LAST_ERROR_MENTIONS("3 bytes");
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_tail(atom, &(const erldp_term *){NULL}));
    OK(erldp_term_get_element(root, 4, &big));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_long(big, &(int64_t){0}));
    LAST_ERROR_MENTIONS("64 bits");
    OK(erldp_term_get_element(root, 3, &map));
    EXPECT(ERLDP_ERR_ARG, erldp_term_get_pair(map, 1, &(const erldp_term *){NULL},
                                              &(const erldp_term *){NULL}));
    erldp_term_free(root);
    erldp_buf_free(tuple);

    /* A failure without a remote term has none to give. */
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_last_error_term(&out));
    CHECK(out == (erldp_buf *)&out);

    erldp_buf_free(ok_term);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

/* Rebuilds a term from what the reader sees, with the encoder. */
static erldp_status rebuild(const erldp_term *term, erldp_buf *out) {
    erldp_status status = ERLDP_OK;
    size_t size = 0;
#define TRY(call)                                                                          \
    do {                                                                                   \
        if ((status = (call)) != ERLDP_OK) return status;                                  \
    } while (0)
    switch (erldp_term_type(term)) {
    case ERLDP_TYPE_ATOM: {
        char name[ERLDP_MAXATOMLEN];
        TRY(erldp_term_get_atom(term, name, sizeof name));
        return erldp_encode_atom(out, name);
    }
    case ERLDP_TYPE_INTEGER: {
        int64_t value = 0;
        TRY(erldp_term_get_long(term, &value));
        return erldp_encode_long(out, value);
    }
    case ERLDP_TYPE_BIGINT: {
        bool negative = false;
        const uint8_t *magnitude = NULL;
        size_t len = 0;
        TRY(erldp_term_get_bigint(term, &negative, &magnitude, &len));
        return erldp_encode_bigint(out, negative, magnitude, len);
    }
    case ERLDP_TYPE_FLOAT: {
        double value = 0;
        TRY(erldp_term_get_double(term, &value));
        return erldp_encode_double(out, value);
    }
    case ERLDP_TYPE_BINARY: {
        const uint8_t *data = NULL;
        size_t len = 0;
        TRY(erldp_term_get_binary(term, &data, &len));
        return erldp_encode_binary(out, data, len);
    }
    case ERLDP_TYPE_BITSTRING: {
        const uint8_t *data = NULL;
        size_t bits = 0;
        TRY(erldp_term_get_bitstring(term, &data, &bits));
        return erldp_encode_bitstring(out, data, bits);
    }
    case ERLDP_TYPE_LIST:
    case ERLDP_TYPE_IMPROPER_LIST:
    case ERLDP_TYPE_TUPLE: {
        TRY(erldp_term_get_size(term, &size));
        erldp_type type = erldp_term_type(term);
        TRY(type == ERLDP_TYPE_TUPLE ? erldp_encode_tuple_header(out, (uint32_t)size)
                                     : erldp_encode_list_header(out, (uint32_t)size));
        for (size_t i = 0; i < size; i++) {
            const erldp_term *element = NULL;
            TRY(erldp_term_get_element(term, i, &element));
            TRY(rebuild(element, out));
        }
        if (type == ERLDP_TYPE_IMPROPER_LIST) {
            const erldp_term *tail = NULL;
            TRY(erldp_term_get_tail(term, &tail));
            return rebuild(tail, out);
        }
        return type == ERLDP_TYPE_LIST && size > 0 ? erldp_encode_nil(out) : ERLDP_OK;
    }
    case ERLDP_TYPE_MAP: {
        TRY(erldp_term_get_size(term, &size));
        TRY(erldp_encode_map_header(out, (uint32_t)size));
        for (size_t i = 0; i < size; i++) {
            const erldp_term *key = NULL, *value = NULL;
            TRY(erldp_term_get_pair(term, i, &key, &value));
            TRY(rebuild(key, out));
            TRY(rebuild(value, out));
        }
        return ERLDP_OK;
    }
    default: {
        /* Pids, ports, refs and funs have no parts to read: copy them whole. */
        erldp_buf *whole = NULL;
        TRY(erldp_term_encode(term, &whole));
        status = erldp_encode_term(out, erldp_buf_data(whole), erldp_buf_len(whole));
        erldp_buf_free(whole);
        return status;
    }
    }
#undef TRY
}

static void test_corpus(void) {
    FILE *file = fopen(corpus_path, "r");
    CHECK(file != NULL);
    if (file == NULL) return;
    char *line = NULL;
    size_t capacity = 0;
    ssize_t read;
    int terms = 0, line_number = 0;
    while ((read = getline(&line, &capacity, file)) != -1) {
        line_number++;
        while (read > 0 && (line[read - 1] == '\n' || line[read - 1] == '\r')) line[--read] = '\0';
        const char *start = line + strspn(line, " \t");
        if (*start == '\0' || *start == '%') continue;
        terms++;
        int before = failed_checks;

        /* text -> ETF -> text -> ETF gives the same bytes. */
        erldp_buf *first = NULL, *second = NULL, *rebuilt = NULL;
        OK(erldp_term_parse(start, &first));
        if (first == NULL) continue;
        char *text = format(erldp_buf_data(first), erldp_buf_len(first));
        if (text != NULL) {
            OK(erldp_term_parse(text, &second));
            CHECK(second != NULL && erldp_buf_len(second) == erldp_buf_len(first) &&
                  memcmp(erldp_buf_data(second), erldp_buf_data(first), erldp_buf_len(first)) == 0);
        }

        /* The reader sees everything: rebuilding from what it reads gives an equal term. */
        erldp_term *root = NULL;
        OK(erldp_term_decode(erldp_buf_data(first), erldp_buf_len(first), &root));
        OK(erldp_buf_new(&rebuilt));
        OK(rebuild(root, rebuilt));
        int order = 2;
        OK(erldp_term_compare(erldp_buf_data(first), erldp_buf_len(first), erldp_buf_data(rebuilt),
                              erldp_buf_len(rebuilt), &order));
        CHECK(order == 0);

        if (failed_checks != before)
            fprintf(stderr, "  at corpus line %d: %.200s\n", line_number, start);
        erldp_term_free(root);
        erldp_string_free(text);
        erldp_buf_free(first);
        erldp_buf_free(second);
        erldp_buf_free(rebuilt);
    }
    free(line);
    fclose(file);
    CHECK(terms >= 100);
    printf("# %d corpus terms\n", terms);
}

static void test_term_order_and_reader_values(void) {
    erldp_buf *one = parse("1"), *one_float = parse("1.0"), *atom = parse("a");
    int order = 2;
    OK(erldp_term_compare(erldp_buf_data(one), erldp_buf_len(one), erldp_buf_data(one_float),
                          erldp_buf_len(one_float), &order));
    CHECK(order == -1);
    OK(erldp_term_compare(erldp_buf_data(atom), erldp_buf_len(atom), erldp_buf_data(one),
                          erldp_buf_len(one), &order));
    CHECK(order == 1);

    erldp_buf *buf = parse("{'héllo', -42, 2.5, <<\"bin\">>, <<5:3>>, \"ab\", [x | y], #{1 => 2}}");
    erldp_term *root = NULL;
    OK(erldp_term_decode(erldp_buf_data(buf), erldp_buf_len(buf), &root));
    CHECK(erldp_term_type(root) == ERLDP_TYPE_TUPLE);
    const erldp_term *e[8] = {0};
    for (size_t i = 0; i < 8; i++) OK(erldp_term_get_element(root, i, &e[i]));
    char name[ERLDP_MAXATOMLEN];
    OK(erldp_term_get_atom(e[0], name, sizeof name));
    CHECK(strcmp(name, "h\xc3\xa9llo") == 0);
    int64_t integer = 0;
    OK(erldp_term_get_long(e[1], &integer));
    CHECK(integer == -42);
    double real = 0;
    OK(erldp_term_get_double(e[2], &real));
    CHECK(real == 2.5);
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(erldp_term_get_binary(e[3], &data, &len));
    CHECK(len == 3 && memcmp(data, "bin", 3) == 0);
    size_t bits = 0;
    OK(erldp_term_get_bitstring(e[4], &data, &bits));
    CHECK(bits == 3 && data[0] == 0xa0);
    CHECK(erldp_term_type(e[5]) == ERLDP_TYPE_LIST);
    size_t size = 0;
    OK(erldp_term_get_size(e[5], &size));
    CHECK(size == 2);
    CHECK(erldp_term_type(e[6]) == ERLDP_TYPE_IMPROPER_LIST);
    const erldp_term *tail = NULL;
    OK(erldp_term_get_tail(e[6], &tail));
    OK(erldp_term_get_atom(tail, name, sizeof name));
    CHECK(strcmp(name, "y") == 0);
    const erldp_term *key = NULL, *value = NULL;
    OK(erldp_term_get_pair(e[7], 0, &key, &value));
    OK(erldp_term_get_long(value, &integer));
    CHECK(integer == 2);
    erldp_buf *sub = NULL;
    OK(erldp_term_encode(e[6], &sub));
    CHECK(buf_is(sub, "[x | y]"));

    erldp_buf_free(sub);
    erldp_term_free(root);
    erldp_buf_free(buf);
    erldp_buf_free(one);
    erldp_buf_free(one_float);
    erldp_buf_free(atom);
}

static void test_rpc(void) {
    erldp_node *node = start_node("c_rpc", cookie);
    erldp_buf *sum = rpc(node, "lists", "sum", "[[1, 2, 3]]");
    CHECK(buf_is(sum, "6"));
    char *text = sum ? format(erldp_buf_data(sum), erldp_buf_len(sum)) : NULL;
    CHECK(text != NULL && strcmp(text, "6") == 0);
    erldp_string_free(text);
    erldp_buf_free(sum);

    erldp_buf *name = rpc(node, "erlang", "node", "[]");
    char expected[300];
    snprintf(expected, sizeof expected, "'%s'", peer);
    CHECK(buf_is(name, expected));
    erldp_buf_free(name);

    bool pong = false;
    OK(erldp_ping(node, peer, &pong));
    CHECK(pong);
    erldp_buf *nodes = NULL;
    OK(erldp_nodes(node, &nodes));
    snprintf(expected, sizeof expected, "['%s']", peer);
    CHECK(buf_is(nodes, expected));
    erldp_buf_free(nodes);

    /* An Elixir exception reads as Elixir shows it. */
    erldp_buf *raised = parse("[#{'__struct__' => 'Elixir.MyApp.NotFound', '__exception__' => true, "
                              "id => 7, message => <<\"user 7 not found\">>}]");
    erldp_buf *unset = NULL;
    EXPECT(ERLDP_ERR_RPC, erldp_rpc(node, peer, "erlang", "error", erldp_buf_data(raised),
                                    erldp_buf_len(raised), WAIT_MS, &unset));
    CHECK(strcmp(erldp_last_error(), "remote error: ** (MyApp.NotFound) user 7 not found") == 0);
    erldp_buf_free(raised);

    /* A remote exception: ERLDP_ERR_RPC with {Class, Reason, Stacktrace}. */
    erldp_buf *args = parse("[42]");
    erldp_buf *out = (erldp_buf *)&out;
    EXPECT(ERLDP_ERR_RPC, erldp_rpc(node, peer, "erlang", "binary_to_atom", erldp_buf_data(args),
                                    erldp_buf_len(args), WAIT_MS, &out));
    LAST_ERROR_MENTIONS("badarg");
    CHECK(out == (erldp_buf *)&out);
    erldp_buf *error = NULL;
    OK(erldp_last_error_term(&error));
    erldp_term *root = NULL;
    if (error != NULL) OK(erldp_term_decode(erldp_buf_data(error), erldp_buf_len(error), &root));
    const erldp_term *class = NULL, *reason = NULL;
    OK(erldp_term_get_element(root, 0, &class));
    OK(erldp_term_get_element(root, 1, &reason));
    char atom[ERLDP_MAXATOMLEN] = "";
    OK(erldp_term_get_atom(class, atom, sizeof atom));
    CHECK(strcmp(atom, "error") == 0);
    OK(erldp_term_get_atom(reason, atom, sizeof atom));
    CHECK(strcmp(atom, "badarg") == 0);
    erldp_term_free(root);
    erldp_buf_free(error);

    erldp_buf *none = parse("[]");
    EXPECT(ERLDP_ERR_RPC, erldp_rpc(node, peer, "no_such_module", "f", erldp_buf_data(none),
                                    erldp_buf_len(none), WAIT_MS, &out));
    LAST_ERROR_MENTIONS("undef");

    /* A call that outlasts its timeout. */
    erldp_buf *sleep = parse("[60000]");
    EXPECT(ERLDP_TIMEOUT, erldp_rpc(node, peer, "timer", "sleep", erldp_buf_data(sleep),
                                    erldp_buf_len(sleep), 100, &out));
    LAST_ERROR_MENTIONS("timer:sleep/1");
    CHECK(out == (erldp_buf *)&out);

    erldp_buf_free(sleep);
    erldp_buf_free(none);
    erldp_buf_free(args);
    erldp_node_close(node);
}

static void test_send_receive(void) {
    erldp_node *node = start_node("c_send", cookie);
    erldp_mailbox *box = new_mailbox(node, "c_inbox");
    erldp_buf *pid = NULL;
    OK(erldp_mailbox_pid(box, &pid));
    CHECK(pid != NULL);
    if (box == NULL || pid == NULL) return;

    /* To the echo process by name: {Pid, Msg} comes back as {echo, Msg}. */
    const char *payloads[] = {"hello", "{1, 2.5, <<\"bin\">>, \"str\", [a | b]}",
                              "#{key => [1, 2, 3], <<\"k\">> => -123456789012345678901234567890}"};
    for (size_t i = 0; i < sizeof payloads / sizeof *payloads; i++) {
        erldp_buf *msg = NULL, *payload = parse(payloads[i]);
        OK(erldp_buf_new(&msg));
        OK(erldp_encode_tuple_header(msg, 2));
        OK(erldp_encode_term(msg, erldp_buf_data(pid), erldp_buf_len(pid)));
        OK(erldp_encode_term(msg, erldp_buf_data(payload), erldp_buf_len(payload)));
        OK(erldp_send_named(box, "echo", peer, erldp_buf_data(msg), erldp_buf_len(msg)));
        char expected[512];
        snprintf(expected, sizeof expected, "{echo, %s}", payloads[i]);
        erldp_message_free(receive_term(box, expected));
        erldp_buf_free(payload);
        erldp_buf_free(msg);
    }

    /* To the echo process by pid. */
    erldp_buf *echo_pid = rpc(node, "erlang", "whereis", "[echo]");
    erldp_buf *msg = NULL;
    OK(erldp_buf_new(&msg));
    OK(erldp_encode_tuple_header(msg, 2));
    OK(erldp_encode_term(msg, erldp_buf_data(pid), erldp_buf_len(pid)));
    OK(erldp_encode_string(msg, "by pid"));
    OK(erldp_send(box, erldp_buf_data(echo_pid), erldp_buf_len(echo_pid), erldp_buf_data(msg),
                  erldp_buf_len(msg)));
    erldp_message *reply = receive_term(box, "{echo, <<\"by pid\">>}");
    CHECK(erldp_message_kind(reply) == ERLDP_MSG_MESSAGE);
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_message_reason(reply, &(const uint8_t *){NULL}, &(size_t){0}));
    erldp_message_free(reply);

    /* Erlang sends to our registered name; REG_SEND carries the sender. */
    erldp_buf_free(rpc(node, "erlang", "send", "[{c_inbox, '%s'}, {from_beam, 42}]",
                       erldp_node_name(node)));
    erldp_message *from_beam = receive_term(box, "{from_beam, 42}");
    const uint8_t *sender = NULL;
    size_t sender_len = 0;
    OK(erldp_message_from(from_beam, &sender, &sender_len));
    erldp_term *sender_term = NULL;
    if (sender != NULL) OK(erldp_term_decode(sender, sender_len, &sender_term));
    CHECK(erldp_term_type(sender_term) == ERLDP_TYPE_PID);
    erldp_term_free(sender_term);
    erldp_message_free(from_beam);

    /* A large message (over 64 KiB) is checked and framed as given: it comes back whole, and
     * one whose binary claims a byte more than it holds is refused with nothing sent. */
    enum { BIG = 200000 };
    uint8_t *bytes = malloc(BIG);
    CHECK(bytes != NULL);
    if (bytes != NULL) {
        for (size_t i = 0; i < BIG; i++) bytes[i] = (uint8_t)(i % 251);
        erldp_buf *big = NULL;
        OK(erldp_buf_new(&big));
        OK(erldp_encode_tuple_header(big, 2));
        OK(erldp_encode_term(big, erldp_buf_data(pid), erldp_buf_len(pid)));
        OK(erldp_encode_binary(big, bytes, BIG));
        size_t big_len = erldp_buf_len(big);
        uint8_t *bad = malloc(big_len);
        CHECK(bad != NULL);
        if (bad != NULL) {
            memcpy(bad, erldp_buf_data(big), big_len);
            size_t at = big_len - BIG - 4; /* the binary's length field */
            uint32_t claimed = BIG + 1;
            uint8_t be[4] = {claimed >> 24, claimed >> 16, claimed >> 8, claimed};
            memcpy(bad + at, be, 4);
            EXPECT(ERLDP_ERR_DECODE, erldp_send_named(box, "echo", peer, bad, big_len));
            free(bad);
        }
        OK(erldp_send_named(box, "echo", peer, erldp_buf_data(big), erldp_buf_len(big)));
        erldp_message *echoed = NULL;
        OK(erldp_receive(box, WAIT_MS, &echoed));
        const erldp_term *tree = NULL, *echo_tag = NULL, *bin = NULL;
        if (echoed != NULL) OK(erldp_message_decoded(echoed, &tree));
        OK(erldp_term_get_element(tree, 0, &echo_tag));
        OK(erldp_term_get_element(tree, 1, &bin));
        const uint8_t *got = NULL;
        size_t got_len = 0;
        OK(erldp_term_get_binary(bin, &got, &got_len));
        CHECK(got_len == BIG && got != NULL && memcmp(got, bytes, BIG) == 0);
        erldp_message_free(echoed);
        erldp_buf_free(big);
        free(bytes);
    }

    /* Nothing more is queued: a short receive times out and writes nothing. */
    erldp_message *none = (erldp_message *)&none;
    EXPECT(ERLDP_TIMEOUT, erldp_receive(box, 50, &none));
    LAST_ERROR_MENTIONS("no message");
    CHECK(none == (erldp_message *)&none);
    EXPECT(ERLDP_TIMEOUT, erldp_receive(box, 0, &none));

    erldp_buf_free(msg);
    erldp_buf_free(echo_pid);
    erldp_buf_free(pid);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

/* gen_server:call to `dest` (ETF) with `request`, whose reply must be `expected`. */
static void call_is(erldp_node *node, const erldp_buf *dest, const erldp_buf *request,
                    const char *expected) {
    erldp_buf *reply = NULL;
    OK(erldp_call(node, erldp_buf_data(dest), erldp_buf_len(dest), erldp_buf_data(request),
                  erldp_buf_len(request), WAIT_MS, &reply));
    CHECK(buf_is(reply, expected));
    erldp_buf_free(reply);
}

static void test_gen_server(void) {
    erldp_node *node = start_node("c_gen", cookie);
    erldp_buf *request = parse("{echo, [1, 2, 3]}"), *reply = NULL;
    OK(erldp_call_named(node, "srv", peer, erldp_buf_data(request), erldp_buf_len(request),
                        WAIT_MS, &reply));
    CHECK(buf_is(reply, "[1, 2, 3]"));
    erldp_buf_free(reply);
    erldp_buf_free(request);

    erldp_buf *set = parse("{set, 7}");
    OK(erldp_cast_named(node, "srv", peer, erldp_buf_data(set), erldp_buf_len(set)));
    erldp_buf *state = parse("state");
    erldp_buf *dest = parsef("{srv, '%s'}", peer);
    call_is(node, dest, state, "7");

    EXPECT(ERLDP_ERR_RPC, erldp_call_named(node, "no_such_server", peer, erldp_buf_data(state),
                                           erldp_buf_len(state), WAIT_MS, &reply));
    LAST_ERROR_MENTIONS("noproc");
    LAST_ERROR_MENTIONS("no process {no_such_server,");

    /* Names in a destination may be binaries (strings) as well as atoms. */
    erldp_buf *named = parsef("{<<\"srv\">>, <<\"%s\">>}", peer);
    call_is(node, named, state, "7");
    erldp_buf_free(named);

    erldp_buf_free(dest);
    erldp_buf_free(state);
    erldp_buf_free(set);
    erldp_node_close(node);
}

/* A gen_server:call from Erlang to our mailbox, made by an rpc on another thread. */
struct caller {
    erldp_node *node;
    char args[600];
    erldp_status status;
    erldp_buf *result;
};

static void *call_us(void *arg) {
    struct caller *caller = arg;
    erldp_buf *args = parse(caller->args);
    caller->status = erldp_rpc(caller->node, peer, "gen_server", "call", erldp_buf_data(args),
                               erldp_buf_len(args), WAIT_MS, &caller->result);
    erldp_buf_free(args);
    return NULL;
}

static void test_answer_gen_server_call(void) {
    erldp_node *node = start_node("c_srv", cookie);
    erldp_mailbox *box = new_mailbox(node, "c_server");
    struct caller caller = {.node = node, .status = ERLDP_PANIC, .result = NULL};
    snprintf(caller.args, sizeof caller.args, "[{c_server, '%s'}, {add, 2, 3}, %d]",
             erldp_node_name(node), WAIT_MS);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, call_us, &caller) == 0);

    erldp_message *msg = NULL;
    OK(erldp_receive(box, WAIT_MS, &msg));
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(erldp_message_term(msg, &data, &len));
    erldp_term *root = NULL;
    if (data != NULL) OK(erldp_term_decode(data, len, &root));
    const erldp_term *tag = NULL, *from = NULL, *request = NULL;
    OK(erldp_term_get_element(root, 0, &tag));
    OK(erldp_term_get_element(root, 1, &from));
    OK(erldp_term_get_element(root, 2, &request));
    char atom[ERLDP_MAXATOMLEN] = "";
    OK(erldp_term_get_atom(tag, atom, sizeof atom));
    CHECK(strcmp(atom, "$gen_call") == 0);
    int64_t a = 0, b = 0;
    const erldp_term *ta = NULL, *tb = NULL;
    OK(erldp_term_get_element(request, 1, &ta));
    OK(erldp_term_get_element(request, 2, &tb));
    OK(erldp_term_get_long(ta, &a));
    OK(erldp_term_get_long(tb, &b));

    erldp_buf *from_etf = NULL, *answer = NULL;
    OK(erldp_term_encode(from, &from_etf));
    OK(erldp_buf_new(&answer));
    OK(erldp_encode_long(answer, a + b));
    OK(erldp_reply(node, erldp_buf_data(from_etf), erldp_buf_len(from_etf), erldp_buf_data(answer),
                   erldp_buf_len(answer)));
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(caller.status == ERLDP_OK);
    CHECK(buf_is(caller.result, "5"));

    erldp_buf_free(caller.result);
    erldp_buf_free(answer);
    erldp_buf_free(from_etf);
    erldp_term_free(root);
    erldp_message_free(msg);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

static void test_links_and_monitors(void) {
    erldp_node *node = start_node("c_link", cookie);
    erldp_mailbox *box = new_mailbox(node, NULL);
    const char *sleeper = "[timer, sleep, [infinity]]";

    /* A linked Erlang process that dies sends us an exit signal. */
    erldp_buf *linked = rpc(node, "erlang", "spawn", "%s", sleeper);
    OK(erldp_link(box, erldp_buf_data(linked), erldp_buf_len(linked)));
    exit_process(node, linked, "boom");
    erldp_message *exit_msg = receive_signal(box, ERLDP_MSG_EXIT, "boom");
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(erldp_message_from(exit_msg, &data, &len));
    int order = 2;
    OK(erldp_term_compare(data, len, erldp_buf_data(linked), erldp_buf_len(linked), &order));
    CHECK(order == 0);
    erldp_message_free(exit_msg);

    /* A monitored one sends DOWN with the monitor's reference. */
    erldp_buf *watched = rpc(node, "erlang", "spawn", "%s", sleeper);
    erldp_buf *ref = NULL;
    OK(erldp_monitor(box, erldp_buf_data(watched), erldp_buf_len(watched), &ref));
    exit_process(node, watched, "bang");
    erldp_message *down = receive_signal(box, ERLDP_MSG_DOWN, "bang");
    OK(erldp_message_ref(down, &data, &len));
    order = 2;
    if (ref != NULL) OK(erldp_term_compare(data, len, erldp_buf_data(ref), erldp_buf_len(ref), &order));
    CHECK(order == 0);
    erldp_message_free(down);
    erldp_buf_free(ref);

    /* Monitoring a process that is gone gives DOWN with noproc at once. */
    OK(erldp_monitor(box, erldp_buf_data(watched), erldp_buf_len(watched), &ref));
    erldp_message_free(receive_signal(box, ERLDP_MSG_DOWN, "noproc"));
    OK(erldp_demonitor(box, erldp_buf_data(ref), erldp_buf_len(ref)));
    erldp_buf_free(ref);

    /* Unlinking before the exit: no signal; monitoring the node works. */
    erldp_buf *unlinked = rpc(node, "erlang", "spawn", "%s", sleeper);
    OK(erldp_link(box, erldp_buf_data(unlinked), erldp_buf_len(unlinked)));
    OK(erldp_unlink(box, erldp_buf_data(unlinked), erldp_buf_len(unlinked)));
    OK(erldp_monitor_node(box, peer));
    OK(erldp_demonitor_node(box, peer));

    /* Closing the mailbox with a reason kills a linked Erlang process with it. */
    erldp_mailbox *doomed = new_mailbox(node, NULL);
    OK(erldp_link(doomed, erldp_buf_data(unlinked), erldp_buf_len(unlinked)));
    OK(erldp_monitor(box, erldp_buf_data(unlinked), erldp_buf_len(unlinked), &ref));
    erldp_buf *reason = parse("{shutdown, c}");
    OK(erldp_mailbox_close_with_reason(doomed, erldp_buf_data(reason), erldp_buf_len(reason)));
    erldp_message_free(receive_signal(box, ERLDP_MSG_DOWN, "{shutdown, c}"));

    erldp_buf_free(reason);
    erldp_buf_free(ref);
    erldp_buf_free(unlinked);
    erldp_buf_free(watched);
    erldp_buf_free(linked);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

static void test_wrong_cookie_and_unknown_node(void) {
    erldp_node *node = start_node("c_cookie", "NOT_THE_COOKIE");
    EXPECT(ERLDP_ERR_AUTH, erldp_connect(node, peer));
    LAST_ERROR_MENTIONS("cookie");
    CHECK(strstr(erldp_last_error(), cookie) == NULL);
    bool pong = true;
    OK(erldp_ping(node, peer, &pong));
    CHECK(!pong);
    erldp_buf *args = parse("[]"), *out = (erldp_buf *)&out;
    EXPECT(ERLDP_ERR_AUTH, erldp_rpc(node, peer, "erlang", "node", erldp_buf_data(args),
                                     erldp_buf_len(args), WAIT_MS, &out));
    CHECK(out == (erldp_buf *)&out);

    char unknown[300];
    snprintf(unknown, sizeof unknown, "no_such_node_%ld@%s", (long)getpid(), strchr(peer, '@') + 1);
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_connect(node, unknown));
    LAST_ERROR_MENTIONS(unknown);
    erldp_buf_free(args);
    erldp_node_close(node);
}

static void test_node_options(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    CHECK(options.hidden && options.epmd_mode == ERLDP_EPMD_AUTO && options.listen_port == 0 &&
          options.net_ticktime_ms == 60000);
    /* The other defaults (the limits: test_limits_and_names). */
    CHECK(options.epmd_port == 0 && options.setup_timeout_ms == 7000 && !options.long_names &&
          options.handler_threads == 0 && !options.ipv6 && options.dist_port == 0);
    CHECK(options.tls_certfile == NULL && options.tls_keyfile == NULL &&
          options.tls_cacertfile == NULL && options.tls_optfile == NULL &&
          options.tls_verify == ERLDP_VERIFY_PEER);
    /* No EPMD: the peer is reached at a known address, here our own second node. */
    options.epmd_mode = ERLDP_EPMD_NONE;
    options.hidden = false;
    erldp_node *a = NULL, *b = NULL;
    char name[64];
    snprintf(name, sizeof name, "c_none_a_%ld@127.0.0.1", (long)getpid());
    OK(erldp_node_start(name, cookie, &options, &a));
    snprintf(name, sizeof name, "c_none_b_%ld@127.0.0.1", (long)getpid());
    OK(erldp_node_start(name, cookie, &options, &b));
    CHECK(erldp_node_port(b) != 0);
    if (a == NULL || b == NULL) return;
    OK(erldp_connect_to(a, erldp_node_name(b), "127.0.0.1", erldp_node_port(b)));
    erldp_mailbox *box = new_mailbox(b, "box_b");
    erldp_buf *hello = parse("hello_b");
    erldp_mailbox *sender = new_mailbox(a, NULL);
    OK(erldp_send_named(sender, "box_b", erldp_node_name(b), erldp_buf_data(hello),
                        erldp_buf_len(hello)));
    erldp_message_free(receive_term(box, "hello_b"));
    erldp_buf_free(hello);
    erldp_mailbox_close(sender);
    erldp_mailbox_close(box);
    uint16_t port = erldp_node_port(b);
    erldp_node_close(a);
    erldp_node_close(b);
    /* One port for every node (dist_port, as -erl_epmd_port): the node listens on it, and a
     * listen_port that differs is refused. The port is b's, given back. */
    erldp_node *d = NULL;
    snprintf(name, sizeof name, "c_dist_%ld@127.0.0.1", (long)getpid());
    options.dist_port = port;
    options.listen_port = (uint16_t)(port == 65535 ? port - 1 : port + 1);
    EXPECT(ERLDP_ERR_ARG, erldp_node_start(name, cookie, &options, &d));
    LAST_ERROR_MENTIONS("dist_port");
    options.listen_port = 0;
    OK(erldp_node_start(name, cookie, &options, &d));
    CHECK(d != NULL && erldp_node_port(d) == port);
    if (d != NULL) erldp_node_close(d);
}

/* The limits of the node options, names in use, and a mailbox's queue limit and length. */
static void test_limits_and_names(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    CHECK(options.max_message_size == 1073741824ULL && options.max_pending_handshakes == 64 &&
          options.max_monitors_per_peer == 65536 && options.send_timeout_ms == 60000 &&
          options.send_queue_limit == 16777216ULL && options.mailbox_queue_limit == 0);
    options.mailbox_queue_limit = 3;
    options.send_queue_limit = 1 << 20;
    char name[64];
    snprintf(name, sizeof name, "c_limits_%ld", (long)getpid());
    erldp_node *node = NULL;
    OK(erldp_node_start(name, cookie, &options, &node));
    if (node == NULL) return;
    EXPECT(ERLDP_ERR_NAME_TAKEN, erldp_node_start(name, cookie, &options, &(erldp_node *){NULL}));
    LAST_ERROR_MENTIONS("EPMD");
    erldp_mailbox *box = new_mailbox(node, "c_limited");
    EXPECT(ERLDP_ERR_NAME_TAKEN, erldp_mailbox_new(node, "c_limited", &(erldp_mailbox *){NULL}));
    LAST_ERROR_MENTIONS("c_limited");
    if (box == NULL) return;

    /* Five messages from Erlang; the node's default limit keeps three. Each rpc returns after
     * its worker sent, and the worker's message comes before its end on the connection. */
    for (int i = 1; i <= 5; i++) {
        erldp_buf_free(
            rpc(node, "erlang", "send", "[{c_limited, '%s'}, %d]", erldp_node_name(node), i));
    }
    CHECK(erldp_mailbox_queue_len(box) == 3);
    CHECK(erldp_mailbox_dropped(box) == 2);
    OK(erldp_mailbox_set_queue_limit(box, 0));
    erldp_buf_free(rpc(node, "erlang", "send", "[{c_limited, '%s'}, 6]", erldp_node_name(node)));
    CHECK(erldp_mailbox_queue_len(box) == 4);
    const char *expected[] = {"1", "2", "3", "6"};
    for (size_t i = 0; i < sizeof expected / sizeof *expected; i++)
        erldp_message_free(receive_term(box, expected[i]));
    CHECK(erldp_mailbox_queue_len(box) == 0 && erldp_mailbox_dropped(box) == 2);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

/* Several threads share one node. */
struct worker {
    erldp_node *node;
    int id;
    int failures;
};

static void *rpc_worker(void *arg) {
    struct worker *worker = arg;
    for (int i = 0; i < 10; i++) {
        int value = worker->id * 100 + i;
        char text[64];
        snprintf(text, sizeof text, "[%d]", -value);
        erldp_buf *args = parse(text), *result = NULL;
        erldp_status status = erldp_rpc(worker->node, peer, "erlang", "abs", erldp_buf_data(args),
                                        erldp_buf_len(args), WAIT_MS, &result);
        int64_t got = -1;
        erldp_term *root = NULL;
        if (status == ERLDP_OK && erldp_term_decode(erldp_buf_data(result), erldp_buf_len(result),
                                                    &root) == ERLDP_OK)
            erldp_term_get_long(root, &got);
        if (got != value) {
            worker->failures++;
            fprintf(stderr, "thread %d: rpc %d gave %" PRId64 " (%s)\n", worker->id, i, got,
                    status == ERLDP_OK ? "ok" : erldp_last_error());
        }
        erldp_term_free(root);
        erldp_buf_free(result);
        erldp_buf_free(args);
    }
    return NULL;
}

struct receiver {
    erldp_mailbox *box;
    erldp_status status;
};

static void *receive_forever(void *arg) {
    struct receiver *receiver = arg;
    erldp_message *msg = NULL;
    receiver->status = erldp_receive(receiver->box, ERLDP_INFINITY, &msg);
    erldp_message_free(msg);
    return NULL;
}

static void test_threads(void) {
    erldp_node *node = start_node("c_threads", cookie);
    struct worker workers[4];
    pthread_t threads[4];
    for (int i = 0; i < 4; i++) {
        workers[i] = (struct worker){.node = node, .id = i + 1, .failures = 0};
        CHECK(pthread_create(&threads[i], NULL, rpc_worker, &workers[i]) == 0);
    }
    for (int i = 0; i < 4; i++) {
        CHECK(pthread_join(threads[i], NULL) == 0);
        CHECK(workers[i].failures == 0);
    }

    /* Closing the node wakes a thread blocked in erldp_receive; its mailbox stays valid. */
    struct receiver receiver = {.box = new_mailbox(node, NULL), .status = ERLDP_OK};
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, receive_forever, &receiver) == 0);
    erldp_node_close(node);
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(receiver.status == ERLDP_ERR_CLOSED);
    erldp_buf *hello = parse("hello");
    EXPECT(ERLDP_ERR_CLOSED, erldp_send_named(receiver.box, "echo", peer, erldp_buf_data(hello),
                                              erldp_buf_len(hello)));
    erldp_buf_free(hello);
    erldp_mailbox_close(receiver.box);
}

/* ------------------------------------------------------------------ serving */

/* The integer at `index` of the tuple `term`, or `fallback`. */
static int64_t element_long(const erldp_term *term, size_t index, int64_t fallback) {
    const erldp_term *element = NULL;
    int64_t value = fallback;
    if (erldp_term_get_element(term, index, &element) == ERLDP_OK)
        erldp_term_get_long(element, &value);
    return value;
}

/* Requests the calculator saw that were not calls. */
static pthread_mutex_t served_lock = PTHREAD_MUTEX_INITIALIZER;
static int casts_seen, infos_seen;

/* A served calculator: {add | mul | 'div', A, B} -> integer; dividing by zero raises
 * ArgumentError; `count` -> {Casts, Infos}. */
static void calculator(void *userdata, erldp_request *request) {
    pthread_mutex_lock(&served_lock);
    ++*(int *)userdata;
    pthread_mutex_unlock(&served_lock);
    const uint8_t *data = NULL;
    size_t len = 0;
    erldp_term *root = NULL;
    if (erldp_request_term(request, &data, &len) != ERLDP_OK ||
        erldp_term_decode(data, len, &root) != ERLDP_OK) {
        erldp_request_raise(request, "ArgumentError", "undecodable request");
        return;
    }
    erldp_req_kind kind = erldp_request_kind(request);
    if (kind != ERLDP_REQ_CALL) {
        pthread_mutex_lock(&served_lock);
        if (kind == ERLDP_REQ_CAST) casts_seen++;
        if (kind == ERLDP_REQ_INFO) infos_seen++;
        pthread_mutex_unlock(&served_lock);
        erldp_term_free(root);
        return; /* nothing to answer: no answer at all is fine */
    }
    char op[ERLDP_MAXATOMLEN] = "";
    if (erldp_term_type(root) == ERLDP_TYPE_ATOM) {
        erldp_term_get_atom(root, op, sizeof op);
    } else {
        const erldp_term *first = NULL;
        if (erldp_term_get_element(root, 0, &first) == ERLDP_OK)
            erldp_term_get_atom(first, op, sizeof op);
    }
    int64_t a = element_long(root, 1, 0), b = element_long(root, 2, 0);
    erldp_term_free(root);
    erldp_buf *answer = NULL;
    erldp_buf_new(&answer);
    if (strcmp(op, "count") == 0) {
        pthread_mutex_lock(&served_lock);
        erldp_encode_tuple_header(answer, 2);
        erldp_encode_long(answer, casts_seen);
        erldp_encode_long(answer, infos_seen);
        pthread_mutex_unlock(&served_lock);
    } else if (strcmp(op, "add") == 0) {
        erldp_encode_long(answer, a + b);
    } else if (strcmp(op, "mul") == 0) {
        erldp_encode_long(answer, a * b);
    } else if (strcmp(op, "div") == 0 && b != 0) {
        erldp_encode_long(answer, a / b);
    } else {
        erldp_buf_free(answer);
        CHECK(erldp_request_raise(request, "ArgumentError", "bad x") == ERLDP_OK);
        /* One answer only. */
        CHECK(erldp_request_noreply(request) == ERLDP_ERR_ARG);
        return;
    }
    CHECK(erldp_request_reply(request, erldp_buf_data(answer), erldp_buf_len(answer)) == ERLDP_OK);
    erldp_buf_free(answer);
}

/* Serves `calculator` as calc, counting its callbacks in `*calls`. */
static erldp_served *serve_calculator(erldp_node *node, int *calls) {
    erldp_served *served = NULL;
    OK(erldp_serve(node, "calc", calculator, calls, &served));
    return served;
}

static void test_serve(void) {
    erldp_node *node = start_node("c_serve", cookie);
    const char *us = erldp_node_name(node);
    int calls = 0;
    erldp_served *served = serve_calculator(node, &calls);

    /* gen_server:call from the BEAM node, made through an rpc there. */
    rpc_is(node, "gen_server", "call", "5", "[{calc, '%s'}, {add, 2, 3}, %d]", us, WAIT_MS);

    /* A raise makes the call exit with {Class, Message}. */
    peer_call(node, "gen_server", "call", ERLDP_ERR_RPC, NULL,
              "[{calc, '%s'}, {'div', 1, 0}, %d]", us, WAIT_MS);
    erldp_buf *error = NULL;
    OK(erldp_last_error_term(&error));
    char expected[600];
    snprintf(expected, sizeof expected,
             "{exit, {{'ArgumentError', <<\"bad x\">>}, {gen_server, call, [{calc, '%s'}, "
             "{'div', 1, 0}, %d]}}, []}",
             us, WAIT_MS);
    CHECK(buf_is(error, expected));
    erldp_buf_free(error);

    /* Casts and plain messages reach the callback too, in order before the next call. */
    rpc_is(node, "gen_server", "cast", "ok", "[{calc, '%s'}, {add, 1, 1}]", us);
    rpc_is(node, "erlang", "send", "hello", "[{calc, '%s'}, hello]", us);
    rpc_is(node, "gen_server", "call", "{1, 1}", "[{calc, '%s'}, count, %d]", us, WAIT_MS);
    pthread_mutex_lock(&served_lock);
    CHECK(calls == 5);
    pthread_mutex_unlock(&served_lock);

    /* The served process's pid, which BEAM may link to and monitor. */
    erldp_buf *pid = NULL;
    OK(erldp_served_pid(served, &pid));
    erldp_term *pid_term = NULL;
    OK(erldp_term_decode(erldp_buf_data(pid), erldp_buf_len(pid), &pid_term));
    CHECK(erldp_term_type(pid_term) == ERLDP_TYPE_PID);
    erldp_term_free(pid_term);
    erldp_buf_free(pid);

    /* The name is taken; unserving frees it; the handle is still freed with its close. */
    erldp_served *again = (erldp_served *)&again;
    EXPECT(ERLDP_ERR_NAME_TAKEN, erldp_serve(node, "calc", calculator, &calls, &again));
    LAST_ERROR_MENTIONS("already registered");
    CHECK(again == (erldp_served *)&again);
    EXPECT(ERLDP_ERR_ARG, erldp_serve(node, "rex", calculator, &calls, &again));
    OK(erldp_unserve(node, "calc"));
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_unserve(node, "calc"));
    peer_call(node, "gen_server", "call", ERLDP_ERR_RPC, NULL, "[{calc, '%s'}, {add, 2, 3}, %d]",
              us, WAIT_MS);
    LAST_ERROR_MENTIONS("noproc");
    erldp_served_close(served);
    erldp_node_close(node);
}

/* A module exposed to rpc: double/1 and fail/0; anything else raises. */
static void c_math(void *userdata, erldp_request *request) {
    (void)userdata;
    CHECK(erldp_request_kind(request) == ERLDP_REQ_RPC);
    CHECK(strcmp(erldp_request_module(request), "c_math") == 0);
    const char *function = erldp_request_function(request);
    const uint8_t *data = NULL;
    size_t len = 0;
    erldp_term *args = NULL;
    OK(erldp_request_term(request, &data, &len));
    if (data != NULL) OK(erldp_term_decode(data, len, &args));
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_request_from(request, &data, &len));
    if (strcmp(function, "double") == 0) {
        const erldp_term *n = NULL;
        int64_t value = 0;
        OK(erldp_term_get_element(args, 0, &n));
        OK(erldp_term_get_long(n, &value));
        erldp_buf *answer = NULL;
        erldp_buf_new(&answer);
        erldp_encode_long(answer, 2 * value);
        OK(erldp_request_reply(request, erldp_buf_data(answer), erldp_buf_len(answer)));
        erldp_buf_free(answer);
    } else if (strcmp(function, "fail") == 0) {
        EXPECT(ERLDP_ERR_ARG, erldp_request_noreply(request)); /* an rpc needs a value */
        OK(erldp_request_raise(request, "RuntimeError", "no such function"));
    } else if (strcmp(function, "silent") != 0) {
        OK(erldp_request_raise(request, "undef", ""));
    }
    erldp_term_free(args);
}

static void test_expose(void) {
    erldp_node *node = start_node("c_expose", cookie);
    const char *us = erldp_node_name(node);
    erldp_serve_options options;
    OK(erldp_serve_options_init(&options));
    CHECK(options.concurrency == 0 && options.max_queue == 0);
    options.concurrency = 4;
    erldp_exposed *exposed = NULL;
    /* The library keeps its own copy of the module's name: the caller's may change or go. */
    char module[] = "c_math";
    OK(erldp_expose_with(node, module, &options, c_math, NULL, &exposed));
    strcpy(module, "gone!!");

    rpc_is(node, "erpc", "call", "42", "['%s', c_math, double, [21]]", us);
    rpc_is(node, "rpc", "block_call", "42", "['%s', c_math, double, [21]]", us);

    rpc_is(node, "rpc", "call",
                 "{badrpc, {'EXIT', {{'RuntimeError', <<\"no such function\">>}, []}}}",
                 "['%s', c_math, fail, []]", us);
    rpc_is(node, "rpc", "call",
                 "{badrpc, {'EXIT', {{erldp, <<\"the callback of c_math:silent gave no "
                 "value\">>}, []}}}",
                 "['%s', c_math, silent, []]", us);

    /* A function the callback does not have: undef, as BEAM answers for a function its module
     * lacks. */
    rpc_is(node, "rpc", "call", "{badrpc, {'EXIT', {undef, [{c_math, nofun, [1], []}]}}}",
                 "['%s', c_math, nofun, [1]]", us);
    /* Other modules are undef, as on a BEAM node without them. */
    rpc_is(node, "rpc", "call", "{badrpc, {'EXIT', {undef, [{c_other, f, [1], []}]}}}",
                 "['%s', c_other, f, [1]]", us);

    EXPECT(ERLDP_ERR_ARG, erldp_expose(node, "c_math", c_math, NULL, &(erldp_exposed *){NULL}));
    OK(erldp_unexpose(node, "c_math"));
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_unexpose(node, "c_math"));
    rpc_is(node, "rpc", "call", "{badrpc, {'EXIT', {undef, [{c_math, double, [1], []}]}}}",
                 "['%s', c_math, double, [1]]", us);
    erldp_exposed_close(exposed);
    erldp_node_close(node);
}

/* A served name that answers later, from the test's thread, with erldp_reply. */
struct later {
    pthread_mutex_t lock;
    pthread_cond_t changed;
    erldp_buf *from;
    int inside, left;
};

static void answer_later(void *userdata, erldp_request *request) {
    struct later *later = userdata;
    const uint8_t *data = NULL;
    size_t len = 0;
    OK(erldp_request_from(request, &data, &len));
    erldp_buf *from = NULL;
    OK(erldp_buf_new(&from));
    OK(erldp_encode_term(from, data, len));
    OK(erldp_request_noreply(request));
    pthread_mutex_lock(&later->lock);
    later->from = from;
    later->inside++;
    pthread_cond_broadcast(&later->changed);
    pthread_mutex_unlock(&later->lock);
    /* Stay a while, so that closing the handle has a callback to wait for. */
    usleep(100 * 1000);
    pthread_mutex_lock(&later->lock);
    later->left++;
    pthread_mutex_unlock(&later->lock);
}

static void test_deferred_reply_and_closing(void) {
    erldp_node *node = start_node("c_later", cookie);
    struct later later = {.from = NULL, .inside = 0, .left = 0};
    pthread_mutex_init(&later.lock, NULL);
    pthread_cond_init(&later.changed, NULL);
    erldp_served *served = NULL;
    OK(erldp_serve(node, "later", answer_later, &later, &served));
    struct caller caller = {.node = node, .status = ERLDP_PANIC, .result = NULL};
    snprintf(caller.args, sizeof caller.args, "[{later, '%s'}, hello, %d]", erldp_node_name(node),
             WAIT_MS);
    pthread_t thread;
    CHECK(pthread_create(&thread, NULL, call_us, &caller) == 0);
    pthread_mutex_lock(&later.lock);
    while (later.inside == 0) pthread_cond_wait(&later.changed, &later.lock);
    erldp_buf *from = later.from;
    pthread_mutex_unlock(&later.lock);

    erldp_buf *answer = parse("{later, hello}");
    OK(erldp_reply(node, erldp_buf_data(from), erldp_buf_len(from), erldp_buf_data(answer),
                   erldp_buf_len(answer)));
    CHECK(pthread_join(thread, NULL) == 0);
    CHECK(caller.status == ERLDP_OK);
    CHECK(buf_is(caller.result, "{later, hello}"));
    /* Closing waits for the callback still inside: afterwards it never runs again. */
    erldp_served_close(served);
    pthread_mutex_lock(&later.lock);
    CHECK(later.left == later.inside);
    pthread_mutex_unlock(&later.lock);

    erldp_buf_free(caller.result);
    erldp_buf_free(answer);
    erldp_buf_free(from);
    pthread_cond_destroy(&later.changed);
    pthread_mutex_destroy(&later.lock);
    erldp_node_close(node);
}

/* A callback that closes its own handle: it does not wait for itself. */
static erldp_served *closing_itself;

static void close_itself(void *userdata, erldp_request *request) {
    (void)userdata;
    erldp_served_close(closing_itself);
    erldp_buf *answer = parse("closed");
    OK(erldp_request_reply(request, erldp_buf_data(answer), erldp_buf_len(answer)));
    erldp_buf_free(answer);
}

static void test_serve_arguments(void) {
    erldp_node *node = start_node("c_serve_args", cookie);
    erldp_served *served = (erldp_served *)&served;
    erldp_exposed *exposed = (erldp_exposed *)&exposed;
    EXPECT(ERLDP_ERR_ARG, erldp_serve(NULL, "x", calculator, NULL, &served));
    LAST_ERROR_MENTIONS("node is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_serve(node, NULL, calculator, NULL, &served));
    EXPECT(ERLDP_ERR_ARG, erldp_serve(node, "x", NULL, NULL, &served));
    LAST_ERROR_MENTIONS("callback is NULL");
    EXPECT(ERLDP_ERR_ARG, erldp_serve(node, "x", calculator, NULL, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_expose(node, "", c_math, NULL, &exposed));
    EXPECT(ERLDP_ERR_ARG, erldp_expose(node, NULL, c_math, NULL, &exposed));
    CHECK(served == (erldp_served *)&served && exposed == (erldp_exposed *)&exposed);
    EXPECT(ERLDP_ERR_ARG, erldp_served_pid(NULL, &(erldp_buf *){NULL}));
    EXPECT(ERLDP_ERR_ARG, erldp_unserve(node, NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_serve_options_init(NULL));
    EXPECT(ERLDP_ERR_ARG, erldp_request_reply(NULL, NULL, 0));
    EXPECT(ERLDP_ERR_ARG, erldp_request_raise(NULL, "A", "b"));
    EXPECT(ERLDP_ERR_ARG, erldp_request_noreply(NULL));
    CHECK(erldp_request_kind(NULL) == ERLDP_REQ_INVALID);
    CHECK(erldp_request_function(NULL) == NULL);
    erldp_served_close(NULL);
    erldp_exposed_close(NULL);

    OK(erldp_serve(node, "closer", close_itself, NULL, &closing_itself));
    /* The process ends (DOWN normal) once the running callback has replied, as a gen_server
     * that stops after answering: the call gets the reply. */
    rpc_is(node, "gen_server", "call", "closed", "[{closer, '%s'}, go, %d]",
           erldp_node_name(node), WAIT_MS);
    peer_call(node, "gen_server", "call", ERLDP_ERR_RPC, NULL, "[{closer, '%s'}, go]",
              erldp_node_name(node));
    LAST_ERROR_MENTIONS("noproc");
    erldp_node_close(node);
}

/* The name of the thread the last named_calculator callback ran on. */
static char callback_thread[16];

/* calculator, noting the thread it runs on. */
static void named_calculator(void *userdata, erldp_request *request) {
    pthread_mutex_lock(&served_lock);
    pthread_getname_np(pthread_self(), callback_thread, sizeof callback_thread);
    pthread_mutex_unlock(&served_lock);
    calculator(userdata, request);
}

/* On the reader of the peer's connection, an rpc back to that peer: refused at once. */
static erldp_status rpc_back_status;
static void rpc_back(void *userdata, erldp_request *request) {
    erldp_buf *args = NULL;
    erldp_buf_new(&args);
    erldp_encode_nil(args);
    erldp_buf *out = NULL;
    erldp_status status = erldp_rpc(userdata, peer, "erlang", "node", erldp_buf_data(args),
                                    erldp_buf_len(args), 3000, &out);
    pthread_mutex_lock(&served_lock);
    rpc_back_status = status;
    pthread_mutex_unlock(&served_lock);
    if (status == ERLDP_OK) erldp_buf_free(out);
    erldp_buf_free(args);
    erldp_buf *answer = NULL;
    erldp_buf_new(&answer);
    erldp_encode_atom(answer, "asked");
    erldp_request_reply(request, erldp_buf_data(answer), erldp_buf_len(answer));
    erldp_buf_free(answer);
}

/* Serves named_calculator as `name` with `options` and calls it once from the peer: the name
 * of the thread the callback ran on starts with `thread`. */
static void served_on(erldp_node *node, const char *name, const erldp_serve_options *options,
                      const char *thread) {
    int calls = 0;
    erldp_served *served = NULL;
    OK(erldp_serve_with(node, name, options, named_calculator, &calls, &served));
    memset(callback_thread, 0, sizeof callback_thread);
    rpc_is(node, "gen_server", "call", "5", "[{%s, '%s'}, {add, 2, 3}]", name,
           erldp_node_name(node));
    pthread_mutex_lock(&served_lock);
    CHECK(calls == 1 && strncmp(callback_thread, thread, strlen(thread)) == 0);
    pthread_mutex_unlock(&served_lock);
    erldp_served_close(served);
}

/* The options structs carry their version, so that a program built against an older header
 * keeps working when fields are appended: a struct init did not fill, or one of a version this
 * library does not know (the program's header is newer), is refused. */
static void test_options_version(void) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    CHECK(options.version == ERLDP_NODE_OPTIONS_VERSION && ERLDP_NODE_OPTIONS_VERSION == 1);
    erldp_node_options untouched;
    memset(&untouched, 0x5a, sizeof untouched);
    EXPECT(ERLDP_ERR_ARG, erldp_node_options_init_version(&untouched, 0));
    LAST_ERROR_MENTIONS("erldp_node_options has version 0");
    EXPECT(ERLDP_ERR_ARG,
           erldp_node_options_init_version(&untouched, ERLDP_NODE_OPTIONS_VERSION + 1));
    LAST_ERROR_MENTIONS("erldp_node_options version 2 is not one this libErlDP");
    CHECK(untouched.version == 0x5a5a5a5a && untouched.dist_port == 0x5a5a);

    erldp_node *node = NULL;
    char name[64];
    snprintf(name, sizeof name, "c_version_%ld", (long)getpid());
    erldp_node_options by_hand;
    memset(&by_hand, 0, sizeof by_hand);
    by_hand.net_ticktime_ms = 60000;
    by_hand.setup_timeout_ms = 7000;
    EXPECT(ERLDP_ERR_ARG, erldp_node_start(name, cookie, &by_hand, &node));
    LAST_ERROR_MENTIONS("fill it with erldp_node_options_init");
    options.version = ERLDP_NODE_OPTIONS_VERSION + 1;
    EXPECT(ERLDP_ERR_ARG, erldp_node_start(name, cookie, &options, &node));
    LAST_ERROR_MENTIONS("the library of the erldp.h it was built with");
    CHECK(node == NULL);
    options.version = ERLDP_NODE_OPTIONS_VERSION;
    OK(erldp_node_start(name, cookie, &options, &node));
    if (node == NULL) return;

    erldp_serve_options serve;
    OK(erldp_serve_options_init(&serve));
    CHECK(serve.version == ERLDP_SERVE_OPTIONS_VERSION && serve.concurrency == 0);
    serve.concurrency = 2;
    erldp_served *served = NULL;
    int calls = 0;
    OK(erldp_serve_with(node, "c_version_served", &serve, calculator, &calls, &served));
    rpc_is(node, "gen_server", "call", "5", "[{c_version_served, '%s'}, {add, 2, 3}]",
           erldp_node_name(node));
    CHECK(calls == 1);
    erldp_served_close(served);
    serve.version = ERLDP_SERVE_OPTIONS_VERSION + 1;
    served = NULL;
    EXPECT(ERLDP_ERR_ARG, erldp_serve_with(node, "c_version_served", &serve, calculator, &calls,
                                           &served));
    LAST_ERROR_MENTIONS("erldp_serve_options version 3");
    erldp_serve_options zeroed = {0};
    erldp_exposed *exposed = NULL;
    EXPECT(ERLDP_ERR_ARG, erldp_expose_with(node, "c_version_math", &zeroed, c_math, NULL,
                                            &exposed));
    LAST_ERROR_MENTIONS("erldp_serve_options has version 0");
    CHECK(served == NULL && exposed == NULL);

    /* Version 2 added on_reader: the callback runs on the thread that read the request, the
     * reader of the peer's connection, not on a handler thread. */
    OK(erldp_serve_options_init(&serve));
    CHECK(ERLDP_SERVE_OPTIONS_VERSION == 2 && !serve.on_reader);
    served_on(node, "c_pooled", &serve, "erldp-h-");
    serve.on_reader = true;
    served_on(node, "c_on_reader", &serve, "erldp-r-");
    /* Such a callback cannot wait for the peer whose connection it reads. */
    erldp_served *asker = NULL;
    OK(erldp_serve_with(node, "c_rpc_back", &serve, rpc_back, node, &asker));
    rpc_is(node, "gen_server", "call", "asked", "[{c_rpc_back, '%s'}, go, %d]",
           erldp_node_name(node), WAIT_MS);
    pthread_mutex_lock(&served_lock);
    CHECK(rpc_back_status == ERLDP_ERR_ARG);
    pthread_mutex_unlock(&served_lock);
    erldp_served_close(asker);
    /* A program built against version 1 has a struct that ends after max_queue: init writes
     * no further, and whatever lies past it is not read as on_reader. */
    erldp_serve_options v1;
    unsigned char *bytes = (unsigned char *)&v1;
    memset(&v1, 0x5a, sizeof v1);
    OK(erldp_serve_options_init_version(&v1, 1));
    size_t v1_end = offsetof(erldp_serve_options, max_queue) + sizeof v1.max_queue;
    CHECK(v1.version == 1 && v1.concurrency == 0 && v1.max_queue == 0);
    for (size_t i = v1_end; i < sizeof v1; i++) CHECK(bytes[i] == 0x5a);
    served_on(node, "c_version_1", &v1, "erldp-h-");
    erldp_node_close(node);
}

/* ------------------------------------------------------------------ cluster */

static erldp_node *start_visible_node(const char *prefix) {
    erldp_node_options options;
    OK(erldp_node_options_init(&options));
    CHECK(options.prevent_overlapping_partitions);
    options.hidden = false;
    return start_named_node(prefix, cookie, &options);
}

/* Polls module:function(args...) on the peer until it gives `expected`, for up to WAIT_MS. */
static int eventually_rpc(erldp_node *node, const char *module, const char *function,
                          const char *args, const char *expected) {
    for (int waited = 0; waited < WAIT_MS; waited += 20) {
        erldp_buf *list = parse(args), *result = NULL;
        erldp_status status = erldp_rpc(node, peer, module, function, erldp_buf_data(list),
                                        erldp_buf_len(list), WAIT_MS, &result);
        erldp_buf_free(list);
        int order = 2;
        if (status == ERLDP_OK) {
            erldp_buf *want = parse(expected);
            erldp_term_compare(erldp_buf_data(result), erldp_buf_len(result),
                               erldp_buf_data(want), erldp_buf_len(want), &order);
            erldp_buf_free(want);
        }
        erldp_buf_free(result);
        if (order == 0) return 1;
        usleep(20000);
    }
    fprintf(stderr, "  %s:%s%s never gave %s\n", module, function, args, expected);
    return 0;
}

/* global names both ways, a global name as destination, pg, node events, and a hidden node
 * that cannot register names. */
static void test_cluster(void) {
    erldp_node *node = start_visible_node("c_cluster");
    OK(erldp_connect(node, peer));
    /* The peer's global:sync() returns once it has exchanged names with us. */
    rpc_is(node, "global", "sync", "ok", "[]");
    erldp_mailbox *box = new_mailbox(node, NULL);
    erldp_mailbox *other = new_mailbox(node, NULL);
    erldp_buf *pid = NULL;
    OK(erldp_mailbox_pid(box, &pid));
    char *pid_text = format(erldp_buf_data(pid), erldp_buf_len(pid));

    bool registered = false;
    OK(erldp_register_global(node, "c_global", box, &registered));
    CHECK(registered);
    OK(erldp_register_global(node, "c_global", other, &registered));
    CHECK(!registered);
    erldp_buf *found = rpc(node, "global", "whereis_name", "[c_global]");
    CHECK(found != NULL &&
          term_is(erldp_buf_data(found), erldp_buf_len(found), pid_text ? pid_text : "x"));
    erldp_buf_free(found);
    found = NULL;
    OK(erldp_whereis_global(node, "c_global", &found));
    CHECK(buf_is(found, pid_text ? pid_text : "x"));
    erldp_buf_free(found);
    found = (erldp_buf *)&found;
    EXPECT(ERLDP_ERR_NOT_FOUND, erldp_whereis_global(node, "c_nobody", &found));
    CHECK(found == (erldp_buf *)&found);

    erldp_buf *hello = parse("{hello, global}");
    OK(erldp_send_global(other, "c_global", erldp_buf_data(hello), erldp_buf_len(hello)));
    erldp_message_free(receive_term(box, "{hello, global}"));
    EXPECT(ERLDP_ERR_ARG,
           erldp_send_global(other, "c_nobody", erldp_buf_data(hello), erldp_buf_len(hello)));
    erldp_buf_free(hello);

    /* A BEAM server registered globally: called and monitored by its global name. */
    erldp_buf_free(rpc(node, "erldp_test_server", "start", "[c_global_srv]"));
    erldp_buf *srv = rpc(node, "erlang", "whereis", "[c_global_srv]");
    char *srv_text = srv ? format(erldp_buf_data(srv), erldp_buf_len(srv)) : NULL;
    rpc_is(node, "global", "register_name", "yes", "[c_srv, %s]", srv_text ? srv_text : "x");
    /* register_name returns once every node of the cluster, ours included, holds the name. */
    erldp_buf *request = parse("{echo, via_global}"), *reply = NULL;
    OK(erldp_call_global(node, "c_srv", erldp_buf_data(request), erldp_buf_len(request),
                         WAIT_MS, &reply));
    CHECK(buf_is(reply, "via_global"));
    erldp_buf_free(reply);
    EXPECT(ERLDP_ERR_RPC, erldp_call_global(node, "c_nobody", erldp_buf_data(request),
                                            erldp_buf_len(request), WAIT_MS, &reply));
    LAST_ERROR_MENTIONS("noproc");
    /* A name that cannot be an atom is refused, as erldp_register_global refuses it, before it
       becomes one: an atom stays in the table for good. */
    char long_name[300];
    memset(long_name, 'g', sizeof long_name - 1);
    long_name[sizeof long_name - 1] = '\0';
    EXPECT(ERLDP_ERR_ARG, erldp_call_global(node, long_name, erldp_buf_data(request),
                                            erldp_buf_len(request), WAIT_MS, &reply));
    LAST_ERROR_MENTIONS("longer than an atom may be");
    EXPECT(ERLDP_ERR_ARG,
           erldp_send_global(other, long_name, erldp_buf_data(request), erldp_buf_len(request)));
    LAST_ERROR_MENTIONS("longer than an atom may be");
    erldp_buf *unused = NULL;
    EXPECT(ERLDP_ERR_ARG, erldp_monitor_global(other, long_name, &unused));
    LAST_ERROR_MENTIONS("longer than an atom may be");
    erldp_buf_free(request);
    erldp_buf *mon = NULL;
    OK(erldp_monitor_global(other, "c_srv", &mon));
    exit_process(node, srv, "kill");
    erldp_string_free(srv_text);
    erldp_buf_free(srv);
    erldp_message *down = NULL;
    OK(erldp_receive(other, WAIT_MS, &down));
    CHECK(erldp_message_kind(down) == ERLDP_MSG_DOWN);
    erldp_message_free(down);
    erldp_buf_free(mon);

    /* pg: our mailbox in a scope the peer runs, seen there; NULL scope is pg. */
    erldp_buf_free(rpc(node, "erldp_cluster", "start_scope", "[c_scope]"));
    erldp_buf *group = parse("{room, 1}");
    OK(erldp_join(box, "c_scope", erldp_buf_data(group), erldp_buf_len(group)));
    char members_args[400], expected[300];
    snprintf(members_args, sizeof members_args, "[c_scope, {room, 1}]");
    snprintf(expected, sizeof expected, "[%s]", pid_text ? pid_text : "x");
    CHECK(eventually_rpc(node, "pg", "get_members", members_args, expected));
    erldp_buf *members = NULL;
    OK(erldp_members(node, "c_scope", erldp_buf_data(group), erldp_buf_len(group), &members));
    CHECK(buf_is(members, expected));
    erldp_buf_free(members);
    bool left = false;
    OK(erldp_leave(box, "c_scope", erldp_buf_data(group), erldp_buf_len(group), &left));
    CHECK(left);
    OK(erldp_leave(box, "c_scope", erldp_buf_data(group), erldp_buf_len(group), &left));
    CHECK(!left);
    CHECK(eventually_rpc(node, "pg", "get_members", members_args, "[]"));
    members = NULL;
    OK(erldp_members(node, NULL, erldp_buf_data(group), erldp_buf_len(group), &members));
    CHECK(buf_is(members, "[]"));
    erldp_buf_free(members);
    erldp_buf_free(group);

    /* Node events: another node of ours connecting, then closing. */
    OK(erldp_monitor_nodes(box));
    erldp_node *hidden = start_node("c_hidden", cookie);
    OK(erldp_connect(hidden, erldp_node_name(node)));
    erldp_message *event = NULL;
    OK(erldp_receive(box, WAIT_MS, &event));
    CHECK(erldp_message_kind(event) == ERLDP_MSG_NODE_UP);
    erldp_message_free(event);
    erldp_mailbox *hidden_box = new_mailbox(hidden, NULL);
    EXPECT(ERLDP_ERR_ARG, erldp_register_global(hidden, "c_hidden", hidden_box, &registered));
    LAST_ERROR_MENTIONS("hidden");
    erldp_mailbox_close(hidden_box);
    erldp_node_close(hidden);
    event = NULL;
    OK(erldp_receive(box, WAIT_MS, &event));
    CHECK(erldp_message_kind(event) == ERLDP_MSG_NODE_DOWN);
    erldp_message_free(event);
    OK(erldp_demonitor_nodes(box));

    OK(erldp_unregister_global(node, "c_global"));
    CHECK(eventually_rpc(node, "global", "whereis_name", "[c_global]", "undefined"));
    erldp_string_free(pid_text);
    erldp_buf_free(pid);
    erldp_mailbox_close(other);
    erldp_mailbox_close(box);
    erldp_node_close(node);
}

/* ------------------------------------------------------------------ main */

/* ErlDP's log records reach the program's callback (erldp_log_set_callback), up to the level
 * set with erldp_log_set_level, and stop when the callback is removed. */
static pthread_mutex_t log_lock = PTHREAD_MUTEX_INITIALIZER;
static char log_connected_prefix[300];
static int log_connected, log_beyond_level;

static void on_log(void *userdata, erldp_log_level level, const char *target, const char *message) {
    pthread_mutex_lock(&log_lock);
    ++*(int *)userdata;
    if (level > ERLDP_LOG_INFO || level == ERLDP_LOG_OFF) log_beyond_level++;
    if (level == ERLDP_LOG_INFO && strcmp(target, "erldp::node") == 0 &&
        strncmp(message, log_connected_prefix, strlen(log_connected_prefix)) == 0)
        log_connected++;
    pthread_mutex_unlock(&log_lock);
}

static void test_logging(void) {
    static int calls;
    EXPECT(ERLDP_ERR_ARG, erldp_log_set_level(42));
    LAST_ERROR_MENTIONS("erldp_log_level");
    OK(erldp_log_set_level(ERLDP_LOG_INFO));
    OK(erldp_log_set_callback(on_log, &calls));
    snprintf(log_connected_prefix, sizeof log_connected_prefix, "connected to %s ", peer);
    erldp_node *node = start_node("c_log", cookie);
    erldp_buf_free(rpc(node, "erlang", "node", "[]"));
    OK(erldp_log_set_callback(NULL, NULL));
    pthread_mutex_lock(&log_lock);
    int seen = calls;
    CHECK(log_connected == 1);
    CHECK(log_beyond_level == 0);
    CHECK(seen >= 2); /* the node started, the connection came up */
    pthread_mutex_unlock(&log_lock);
    OK(erldp_log_set_level(ERLDP_LOG_OFF));
    erldp_node_close(node);
    pthread_mutex_lock(&log_lock);
    CHECK(calls == seen);
    pthread_mutex_unlock(&log_lock);
}

/* How many threads of this process are a node's (a connection's reader or writer, the accept
 * loop, the timer, a served name's handlers...), by the names the kernel keeps. */
static int node_threads(void) {
    DIR *tasks = opendir("/proc/self/task");
    if (tasks == NULL) return -1;
    int count = 0;
    struct dirent *task;
    while ((task = readdir(tasks)) != NULL) {
        if (task->d_name[0] == '.') continue;
        char path[300], name[32] = "";
        snprintf(path, sizeof path, "/proc/self/task/%s/comm", task->d_name);
        FILE *comm = fopen(path, "r");
        /* A thread that ended since the listing has no comm any more. */
        if (comm == NULL) continue;
        /* Every thread ErlDP names starts "erldp-"; an EPMD run in this process is no node's. */
        if (fgets(name, sizeof name, comm) != NULL && strncmp(name, "erldp-", 6) == 0 &&
            strncmp(name, "erldp-epmd", 10) != 0)
            count++;
        fclose(comm);
    }
    closedir(tasks);
    return count;
}

/* After fork() the node, its mailboxes and served names belong to the parent: in the child every
 * call on them is ERLDP_ERR_CLOSED with a last error that says so, closing them there leaves the
 * parent's connections alone, and a node started in the child works. The child's verdict comes
 * through a pipe: under valgrind its exit status counts the memory of the parent's threads,
 * which it inherited and cannot free, as lost. */
static void test_fork(void) {
    erldp_node *node = start_node("c_fork", cookie);
    const char *us = erldp_node_name(node);
    int calls = 0;
    erldp_served *served = serve_calculator(node, &calls);
    erldp_mailbox *box = new_mailbox(node, "c_fork_box");
    /* Queued before the fork: the child must not read the parent's queue (its lock may have been
     * held by a parent's thread at the fork). */
    rpc_is(node, "erlang", "send", "before_fork", "[{c_fork_box, '%s'}, before_fork]", us);
    CHECK(erldp_mailbox_queue_len(box) == 1);

    int verdict[2];
    CHECK(pipe(verdict) == 0);
    fflush(NULL);
    pid_t child = fork();
    CHECK(child >= 0);
    if (child == 0) {
        close(verdict[0]);
        failed_checks = 0;
        bool pong = false;
        EXPECT(ERLDP_ERR_CLOSED, erldp_ping(node, peer, &pong));
        LAST_ERROR_MENTIONS("which forked this one");
        LAST_ERROR_MENTIONS("erldp_node_start");
        erldp_message *msg = NULL;
        EXPECT(ERLDP_ERR_CLOSED, erldp_receive(box, 0, &msg));
        LAST_ERROR_MENTIONS("this mailbox belongs to process");
        erldp_ping(node, peer, &pong);
        CHECK(erldp_mailbox_queue_len(box) == 0);
        LAST_ERROR_MENTIONS("this mailbox belongs to process");
        erldp_ping(node, peer, &pong);
        CHECK(erldp_mailbox_dropped(box) == 0);
        LAST_ERROR_MENTIONS("this mailbox belongs to process");
        erldp_mailbox *other = NULL;
        EXPECT(ERLDP_ERR_CLOSED, erldp_mailbox_new(node, NULL, &other));
        erldp_buf *served_pid = NULL;
        EXPECT(ERLDP_ERR_CLOSED, erldp_served_pid(served, &served_pid));
        LAST_ERROR_MENTIONS("this served name belongs to process");
        erldp_served_close(served);
        erldp_mailbox_close(box);
        erldp_node_close(node);

        erldp_node *own = start_node("c_fork_child", cookie);
        erldp_buf *name = own ? rpc(own, "erlang", "node", "[]") : NULL;
        char expected[300];
        snprintf(expected, sizeof expected, "'%s'", peer);
        CHECK(buf_is(name, expected));
        erldp_buf_free(name);
        erldp_node_close(own);
        fflush(NULL);
        ssize_t written = write(verdict[1], &failed_checks, sizeof failed_checks);
        _exit(written == sizeof failed_checks ? 0 : 1);
    }
    close(verdict[1]);
    int child_failed = -1;
    CHECK(read(verdict[0], &child_failed, sizeof child_failed) == sizeof child_failed);
    CHECK(child_failed == 0);
    close(verdict[0]);
    int status = 0;
    CHECK(waitpid(child, &status, 0) == child);
    CHECK(WIFEXITED(status));

    /* The parent's connection, served name and mailbox went on through the child's closes. */
    erldp_message_free(receive_term(box, "before_fork"));
    rpc_is(node, "gen_server", "call", "5", "[{calc, '%s'}, {add, 2, 3}, %d]", us, WAIT_MS);
    rpc_is(node, "erlang", "send", "after_fork", "[{c_fork_box, '%s'}, after_fork]", us);
    erldp_message_free(receive_term(box, "after_fork"));
    erldp_mailbox_close(box);
    erldp_served_close(served);
    erldp_node_close(node);
}

/* erldp_node_close returns once the node's threads have ended: a program may exit right after
 * with nothing of the library running (valgrind then finds no thread's memory in use). */
static void test_close_waits_for_threads(void) {
    erldp_node *node = start_node("c_close", cookie);
    int calls = 0;
    erldp_served *served = serve_calculator(node, &calls);
    rpc_is(node, "gen_server", "call", "5", "[{calc, '%s'}, {add, 2, 3}, %d]", erldp_node_name(node),
           WAIT_MS);
    CHECK(node_threads() >= 4); /* accept, the connection's reader and writer, a handler */
    erldp_node_close(node);
    /* A joined thread can stay listed for a moment while the kernel finishes its exit; one that
     * close did not wait for is still listed two seconds later. */
    int left = node_threads();
    for (int i = 0; i < 100 && left != 0; i++) {
        usleep(20000);
        left = node_threads();
    }
    if (left != 0) fprintf(stderr, "  %d node threads left after close\n", left);
    CHECK(left == 0);
    erldp_served_close(served);
}

int main(int argc, char **argv) {
    if (argc != 4) {
        fprintf(stderr, "usage: %s PEER_NODE COOKIE CORPUS_FILE\n", argv[0]);
        return 2;
    }
    peer = argv[1];
    cookie = argv[2];
    corpus_path = argv[3];
    static const struct test tests[] = {
        {"version", test_version},
        {"null_arguments", test_null_arguments},
        {"garbage_arguments", test_garbage_arguments},
        {"corpus_round_trip_and_reader", test_corpus},
        {"term_order_and_reader_values", test_term_order_and_reader_values},
        {"rpc", test_rpc},
        {"send_receive", test_send_receive},
        {"gen_server", test_gen_server},
        {"answer_gen_server_call", test_answer_gen_server_call},
        {"serve", test_serve},
        {"expose", test_expose},
        {"deferred_reply_and_closing", test_deferred_reply_and_closing},
        {"serve_arguments", test_serve_arguments},
        {"options_version", test_options_version},
        {"links_and_monitors", test_links_and_monitors},
        {"wrong_cookie_and_unknown_node", test_wrong_cookie_and_unknown_node},
        {"node_options", test_node_options},
        {"limits_and_names", test_limits_and_names},
        {"threads", test_threads},
        {"logging", test_logging},
        {"cluster", test_cluster},
        {"fork", test_fork},
        {"close_waits_for_threads", test_close_waits_for_threads},
    };
    return run_tests(tests, sizeof tests / sizeof *tests);
}
