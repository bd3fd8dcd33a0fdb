/* ErlDP from C, called by BEAM: a calculator served as a process and a module exposed to rpc.
 *
 *   cc calculator.c $(pkg-config --cflags --libs erldp) -o calculator
 *   ./calculator c_calc COOKIE
 *
 * From Erlang (or Elixir) on a node with the same cookie:
 *
 *   gen_server:call({calculator, 'c_calc@host'}, {add, 2, 3})   % 5
 *   gen_server:call({calculator, 'c_calc@host'}, {'div', 1, 0}) % exits {'ArgumentError', <<"division by zero">>}
 *   rpc:call('c_calc@host', c_math, square, [12])               % 144
 *   rpc:call('c_calc@host', c_math, cube, [2])                  % {badrpc, {'EXIT', {undef, [{c_math, cube, [2], []}]}}}
 *   gen_server:cast({calculator, 'c_calc@host'}, stop)          % ends the program
 *
 * The calculator's callback runs on the library's handler threads, one call at a time; c_math's,
 * which only computes, on the thread that reads the call (erldp_serve_options.on_reader), which
 * saves handing it over (a callback that waits for anything must not run there). */
#include <erldp.h>

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static pthread_mutex_t lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t stopped = PTHREAD_COND_INITIALIZER;
static bool stop;

static void check(erldp_status status, const char *what) {
    if (status != ERLDP_OK) {
        fprintf(stderr, "calculator: %s failed: %s: %s\n", what, erldp_status_name(status),
                erldp_last_error());
        exit(1);
    }
}

/* Whether `term` is the atom `name`. */
static bool is_atom(const erldp_term *term, const char *name) {
    char text[ERLDP_MAXATOMLEN];
    return erldp_term_type(term) == ERLDP_TYPE_ATOM &&
           erldp_term_get_atom(term, text, sizeof text) == ERLDP_OK && strcmp(text, name) == 0;
}

/* Answers with the integer `value`. */
static void reply_long(erldp_request *request, int64_t value) {
    erldp_buf *answer = NULL;
    check(erldp_buf_new(&answer), "allocating");
    check(erldp_encode_long(answer, value), "encoding");
    check(erldp_request_reply(request, erldp_buf_data(answer), erldp_buf_len(answer)), "replying");
    erldp_buf_free(answer);
}

/* The calculator: {add | sub | mul | 'div', A, B} answered; the cast `stop` ends the program. */
static void calculator(void *userdata, erldp_request *request) {
    (void)userdata;
    const uint8_t *data = NULL;
    size_t len = 0;
    erldp_term *term = NULL;
    check(erldp_request_term(request, &data, &len), "reading the request");
    check(erldp_term_decode(data, len, &term), "decoding the request");
    if (erldp_request_kind(request) != ERLDP_REQ_CALL) {
        if (is_atom(term, "stop")) {
            pthread_mutex_lock(&lock);
            stop = true;
            pthread_cond_signal(&stopped);
            pthread_mutex_unlock(&lock);
        }
        erldp_term_free(term);
        return;
    }
    const erldp_term *op = NULL, *ta = NULL, *tb = NULL;
    int64_t a = 0, b = 0;
    size_t size = 0;
    bool ok = erldp_term_type(term) == ERLDP_TYPE_TUPLE && erldp_term_get_size(term, &size) == ERLDP_OK &&
              size == 3 && erldp_term_get_element(term, 0, &op) == ERLDP_OK &&
              erldp_term_get_element(term, 1, &ta) == ERLDP_OK &&
              erldp_term_get_element(term, 2, &tb) == ERLDP_OK && erldp_term_get_long(ta, &a) == ERLDP_OK &&
              erldp_term_get_long(tb, &b) == ERLDP_OK;
    /* Any caller may send any integers: a result that int64_t cannot hold is refused, never
     * computed (signed overflow is undefined, and INT64_MIN / -1 traps). */
    int64_t result = 0;
    const char *refused = "not a calculation";
    if (ok && is_atom(op, "add")) refused = __builtin_add_overflow(a, b, &result) ? "overflow" : NULL;
    else if (ok && is_atom(op, "sub")) refused = __builtin_sub_overflow(a, b, &result) ? "overflow" : NULL;
    else if (ok && is_atom(op, "mul")) refused = __builtin_mul_overflow(a, b, &result) ? "overflow" : NULL;
    else if (ok && is_atom(op, "div") && b == 0) refused = "division by zero";
    else if (ok && is_atom(op, "div") && a == INT64_MIN && b == -1) refused = "overflow";
    else if (ok && is_atom(op, "div")) {
        result = a / b;
        refused = NULL;
    }
    if (refused) erldp_request_raise(request, "ArgumentError", refused);
    else reply_long(request, result);
    erldp_term_free(term);
}

/* c_math:square(N). */
static void c_math(void *userdata, erldp_request *request) {
    (void)userdata;
    const char *function = erldp_request_function(request);
    const uint8_t *data = NULL;
    size_t len = 0;
    erldp_term *args = NULL;
    check(erldp_request_term(request, &data, &len), "reading the arguments");
    check(erldp_term_decode(data, len, &args), "decoding the arguments");
    size_t count = 0;
    const erldp_term *n = NULL;
    int64_t value = 0, square = 0;
    erldp_term_get_size(args, &count);
    if (strcmp(function, "square") == 0 && count == 1 && erldp_term_get_element(args, 0, &n) == ERLDP_OK &&
        erldp_term_get_long(n, &value) == ERLDP_OK) {
        if (__builtin_mul_overflow(value, value, &square)) erldp_request_raise(request, "ArgumentError", "overflow");
        else reply_long(request, square);
    } else {
        /* What BEAM answers for a function its module lacks: {undef, [{c_math, F, Args, []}]}. */
        erldp_request_raise(request, "undef", "");
    }
    erldp_term_free(args);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s NODE_NAME COOKIE\n", argv[0]);
        return 2;
    }
    erldp_node *node = NULL;
    check(erldp_node_start(argv[1], argv[2], NULL, &node), "starting the node");
    erldp_served *served = NULL;
    erldp_exposed *exposed = NULL;
    check(erldp_serve(node, "calculator", calculator, NULL, &served), "serving the calculator");
    erldp_serve_options on_reader;
    check(erldp_serve_options_init(&on_reader), "filling the serve options");
    on_reader.on_reader = true;
    check(erldp_expose_with(node, "c_math", &on_reader, c_math, NULL, &exposed), "exposing c_math");
    printf("calculator: ready as %s\n", erldp_node_name(node));
    fflush(stdout);

    pthread_mutex_lock(&lock);
    while (!stop) pthread_cond_wait(&stopped, &lock);
    pthread_mutex_unlock(&lock);

    erldp_exposed_close(exposed);
    erldp_served_close(served);
    erldp_node_close(node);
    printf("calculator: stopped\n");
    return 0;
}
