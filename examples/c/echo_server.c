/* ErlDP from C: a node that Erlang code talks to.
 *
 *   cc echo_server.c $(pkg-config --cflags --libs erldp) -o echo_server
 *   ./echo_server c_echo COOKIE
 *
 * Registers `echo` on the node c_echo@<host>. From Erlang:
 *
 *   {echo, 'c_echo@host'} ! {self(), hello}   % answers {echo, hello}
 *   gen_server:call({echo, 'c_echo@host'}, X) % returns {ok, X}
 *   {echo, 'c_echo@host'} ! stop              % ends the program
 */
#include <erldp.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static erldp_node *node;

static void check(erldp_status status, const char *what) {
    if (status != ERLDP_OK) {
        fprintf(stderr, "echo_server: %s failed: %s: %s\n", what, erldp_status_name(status),
                erldp_last_error());
        erldp_node_close(node);
        exit(1);
    }
}

/* Whether `term` is the atom `name`. */
static bool is_atom(const erldp_term *term, const char *name) {
    char text[ERLDP_MAXATOMLEN];
    return erldp_term_type(term) == ERLDP_TYPE_ATOM &&
           erldp_term_get_atom(term, text, sizeof text) == ERLDP_OK && strcmp(text, name) == 0;
}

/* Element `index` of a tuple of `arity` elements; NULL when `term` is no such tuple. */
static const erldp_term *element(const erldp_term *term, size_t arity, size_t index) {
    size_t size = 0;
    const erldp_term *found = NULL;
    if (erldp_term_type(term) != ERLDP_TYPE_TUPLE || erldp_term_get_size(term, &size) != ERLDP_OK ||
        size != arity || erldp_term_get_element(term, index, &found) != ERLDP_OK)
        return NULL;
    return found;
}

/* {From, Msg}: send {echo, Msg} to From. */
static void echo(erldp_mailbox *box, const erldp_term *from, const erldp_term *msg) {
    erldp_buf *to = NULL, *reply = NULL;
    check(erldp_term_encode(from, &to), "encoding the sender");
    check(erldp_buf_new(&reply), "allocating");
    check(erldp_encode_tuple_header(reply, 2), "encoding");
    check(erldp_encode_atom(reply, "echo"), "encoding");
    erldp_buf *body = NULL;
    check(erldp_term_encode(msg, &body), "encoding");
    check(erldp_encode_term(reply, erldp_buf_data(body), erldp_buf_len(body)), "encoding");
    check(erldp_send(box, erldp_buf_data(to), erldp_buf_len(to), erldp_buf_data(reply),
                     erldp_buf_len(reply)),
          "sending");
    erldp_buf_free(body);
    erldp_buf_free(reply);
    erldp_buf_free(to);
}

/* {'$gen_call', From, Request}: answer {ok, Request}. */
static void answer_call(const erldp_term *from, const erldp_term *request) {
    erldp_buf *caller = NULL, *reply = NULL, *body = NULL;
    check(erldp_term_encode(from, &caller), "encoding the caller");
    check(erldp_term_encode(request, &body), "encoding");
    check(erldp_buf_new(&reply), "allocating");
    check(erldp_encode_tuple_header(reply, 2), "encoding");
    check(erldp_encode_atom(reply, "ok"), "encoding");
    check(erldp_encode_term(reply, erldp_buf_data(body), erldp_buf_len(body)), "encoding");
    check(erldp_reply(node, erldp_buf_data(caller), erldp_buf_len(caller), erldp_buf_data(reply),
                      erldp_buf_len(reply)),
          "replying");
    erldp_buf_free(body);
    erldp_buf_free(reply);
    erldp_buf_free(caller);
}

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: %s NODE_NAME COOKIE\n", argv[0]);
        return 2;
    }
    check(erldp_node_start(argv[1], argv[2], NULL, &node), "starting the node");
    erldp_mailbox *box = NULL;
    check(erldp_mailbox_new(node, "echo", &box), "registering echo");
    printf("echo_server: ready as %s\n", erldp_node_name(node));
    fflush(stdout);

    for (bool running = true; running;) {
        erldp_message *msg = NULL;
        check(erldp_receive(box, ERLDP_INFINITY, &msg), "receiving");
        const uint8_t *data = NULL;
        size_t len = 0;
        erldp_term *term = NULL;
        check(erldp_message_term(msg, &data, &len), "reading the message");
        check(erldp_term_decode(data, len, &term), "decoding the message");

        const erldp_term *from = element(term, 2, 0);
        if (is_atom(term, "stop")) {
            running = false;
        } else if (from != NULL && erldp_term_type(from) == ERLDP_TYPE_PID) {
            echo(box, from, element(term, 2, 1));
        } else if (is_atom(element(term, 3, 0), "$gen_call")) {
            answer_call(element(term, 3, 1), element(term, 3, 2));
        } else {
            char *text = NULL;
            check(erldp_term_format(data, len, &text), "formatting");
            printf("echo_server: ignored %s\n", text);
            erldp_string_free(text);
        }
        erldp_term_free(term);
        erldp_message_free(msg);
    }

    erldp_mailbox_close(box);
    erldp_node_close(node);
    printf("echo_server: stopped\n");
    return 0;
}
