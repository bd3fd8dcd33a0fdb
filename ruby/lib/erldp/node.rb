# frozen_string_literal: true

module ErlDP
  # A named Erlang distribution node inside this Ruby program.
  #
  # It registers its name with EPMD, so that BEAM nodes reach it like any other node, and it
  # connects to them on demand. Blocking calls ({#connect}, {#ping}, {#rpc}, {#call}, {#close},
  # Node.new and Mailbox#receive) release the GVL, so other Ruby threads run meanwhile, and they
  # can be interrupted (Ctrl-C, Thread#raise, Thread#kill, Timeout.timeout). Any number of
  # threads can share one node.
  #
  # Under a Fiber scheduler (the async gem, Falcon), the same calls made from a non-blocking
  # fiber wait through the scheduler (its +io_wait+), so the thread's other fibers run meanwhile;
  # an exception raised into the waiting fiber (Fiber#raise, the scheduler's timeout) stops an
  # rpc, call or receive where it runs, as Thread#raise does.
  #
  # @example
  #   node = ErlDP::Node.new("ruby", cookie: "secret")
  #   node.rpc(:"peer@host", :lists, :sum, [[1, 2, 3]], timeout: 5)   # => 6
  #   node.close
  class Node
    # How long {#rpc} and {#call} wait by default, in seconds (+gen_server:call+'s default).
    DEFAULT_TIMEOUT = 5

    class << self
      # Starts a node.
      #
      # @param name [String, Symbol] +"ruby"+ becomes +ruby@<short host name>+ (or the long host
      #   name with +long_names: true+); +"ruby@host.example.com"+ is used as it is
      # @param cookie [String, nil] the magic cookie; +nil+ reads +~/.erlang.cookie+, creating it
      #   like +erl+ does when it is missing
      # @param hidden [Boolean] a hidden node (like a C node) does not appear in +nodes()+ of the
      #   nodes it connects to; +false+ publishes it
      # @param epmd [Symbol] +:auto+ uses the EPMD on the EPMD port when one answers and otherwise
      #   runs one inside this program (with +dist_port:+, none); +:external+ requires a running
      #   one; +:none+ neither registers nor looks up (connect with {#connect}'s +port:+, or give
      #   +dist_port:+)
      # @param listen_port [Integer] the port to accept connections on; 0 picks a free one
      # @param net_ticktime [Numeric] seconds, like +-kernel net_ticktime+: a peer silent this
      #   long is considered down
      # @param epmd_port [Integer, nil] the EPMD port; +nil+ means +$ERL_EPMD_PORT+, else 4369
      # @param dist_port [Integer, nil] the one port every node of the cluster listens on, as
      #   BEAM's +-erl_epmd_port+ has it (clusters without EPMD): the node listens on it and reaches
      #   each peer at it on the peer's host without asking EPMD (+listen_port+ must then be 0 or
      #   the same); as BEAM then does, +epmd: :auto+ registers with the EPMD that answers, if one
      #   does, and starts none; +:none+ registers nowhere
      # @param setup_timeout [Numeric] seconds that connecting to a node (EPMD lookup, TCP,
      #   handshake) may take
      # @param long_names [Boolean, nil] +true+ for +name@host.domain+ names; +nil+ decides from
      #   the name
      # @param tls [Hash, nil] TLS distribution, as BEAM nodes started with +-proto_dist
      #   inet_tls+ run it: +{ certfile:, keyfile:, cacertfile:, verify: :verify_peer }+ (our
      #   certificate and key, presented in both roles; the CAs a peer's certificate must chain
      #   to; +:verify_peer+, the default, or +:verify_none+), or +{ optfile: }+, the file
      #   +-ssl_dist_optfile+ reads; paths are Strings or Pathnames. A TLS node never falls back
      #   to plain TCP; certificate problems with a peer raise ConnectionError naming the cause
      # @param ipv6 [Boolean] IPv6 distribution, as +-proto_dist inet6_tcp+ (+inet6_tls+ with
      #   +tls:+): listens on IPv6 and reaches peers at the IPv6 addresses of their hosts
      # @param max_message_size [Integer, nil] the largest message a peer may send, in bytes (+nil+:
      #   1 GiB); a larger one ends that peer's connection
      # @param max_pending_handshakes [Integer, nil] how many peers may be connecting to this node
      #   at once (+nil+: 64); a connection beyond them is closed at once
      # @param max_monitors_per_peer [Integer, nil] how many links and monitors one peer may hold on
      #   this node's mailboxes (+nil+: 65,536); past it the peer loses its connection
      # @param send_timeout [Numeric, nil] seconds a send may wait while a peer leaves
      #   +send_queue_limit+ unread (+nil+: 60); then it raises ErlDP::Timeout
      # @param send_queue_limit [Integer, nil] bytes one connection may hold that the peer has not
      #   taken before sends wait (+nil+: 16 MiB); the signals the node owes a peer (answers to its
      #   links, unlinks and monitors; exits and +DOWN+s of our mailboxes) never wait, and as much
      #   again of them ends that peer's connection
      # @param mailbox_queue_limit [Integer, nil] the queue limit every new mailbox starts with (see
      #   Mailbox#queue_limit=); +nil+: none
      # @yieldparam node [Node] when a block is given, the node, closed when the block ends
      # @return [Node, Object] the node, or the block's value
      # @raise [ErlDP::NameTaken] when EPMD has a node of this name
      # @raise [ErlDP::Error] when the port cannot be used
      # @raise [ArgumentError] for a malformed name or option, or TLS files that cannot serve
      def new(name, cookie: nil, hidden: true, epmd: :auto, listen_port: 0, net_ticktime: 60,
              epmd_port: nil, dist_port: nil, setup_timeout: 7, long_names: nil, tls: nil, ipv6: false,
              max_message_size: nil, max_pending_handshakes: nil, max_monitors_per_peer: nil,
              send_timeout: nil, send_queue_limit: nil, mailbox_queue_limit: nil)
        node = start(name.to_s, { cookie: cookie&.to_s, hidden: hidden ? true : false, epmd: epmd,
                                  listen_port: listen_port, net_ticktime: net_ticktime, epmd_port: epmd_port,
                                  dist_port: dist_port,
                                  setup_timeout: setup_timeout, long_names: long_names,
                                  tls: tls_options(tls), ipv6: ipv6 ? true : false,
                                  max_message_size: max_message_size,
                                  max_pending_handshakes: max_pending_handshakes,
                                  max_monitors_per_peer: max_monitors_per_peer, send_timeout: send_timeout,
                                  send_queue_limit: send_queue_limit, mailbox_queue_limit: mailbox_queue_limit })
        return node unless block_given?

        begin
          yield node
        ensure
          node.close
        end
      end

      private :start

      # The keys +tls:+ takes.
      TLS_KEYS = %i[certfile keyfile cacertfile verify optfile].freeze
      private_constant :TLS_KEYS

      private

      # +tls:+ as Strings by Symbol, or nil; an unknown key is an error rather than ignored.
      def tls_options(tls)
        return nil if tls.nil?
        raise ArgumentError, "tls: must be a Hash, not #{tls.class}" unless tls.is_a?(Hash)

        tls.to_h do |key, value|
          unless TLS_KEYS.include?(key)
            raise ArgumentError, "unknown tls option #{key.inspect} (known: #{TLS_KEYS.join(', ')})"
          end

          [key, value.to_s]
        end
      end
    end

    # @!method name
    #   @return [Symbol] the full node name, +:"ruby@host"+

    # @!method pid
    #   @return [ErlDP::Pid] the pid that node-level sends, rpcs and calls come from

    # @!method port
    #   @return [Integer] the port the node listens on

    # @!method hidden?
    #   @return [Boolean] whether the node is hidden

    # @!method ping(peer)
    #   Like +net_adm:ping/1+: connects if needed and checks that +peer+ answers.
    #   @param peer [Symbol, String] a node name, +:"name@host"+
    #   @return [Symbol] +:pong+, or +:pang+ when the node cannot be reached

    # @!method cast(dest, request)
    #   +gen_server:cast(Dest, Request)+: sends and returns at once.
    #   @param dest [ErlDP::Pid, Array(Symbol|String, Symbol|String)] a pid or +[name, node]+
    #   @param request [Object] any term
    #   @return [nil]

    # @!method send_message(dest, message)
    #   Sends +message+ from the node's own pid ({#pid}), like Erlang's +Dest ! Message+: it
    #   succeeds when the message is on its way, whether or not the receiver exists.
    #   @param dest [ErlDP::Pid, ErlDP::Ref, Array(Symbol|String, Symbol|String)] a pid, an alias, or
    #     +[name, node]+
    #   @param message [Object] any term
    #   @return [nil]
    #   @raise [ErlDP::EncodeError] when +message+ holds a value with no Erlang form

    # @!method nodes
    #   @return [Array<Symbol>] the nodes this node is connected to

    # @!method closed?
    #   @return [Boolean] whether {#close} was called

    # Connects to +peer+ and completes the handshake. Sending connects on its own; connecting
    # first surfaces a wrong cookie or an unreachable node early.
    #
    # @param peer [Symbol, String] a node name, +:"name@host"+
    # @param host [String, nil] with +port:+, where the peer listens (default: the host of its
    #   name), a name or an address; this skips EPMD, as needed with +epmd: :none+. The host is
    #   resolved for the node's address family within its +setup_timeout+, anew for each
    #   reconnect, and remembered for +peer+ even when this connect fails: later connects and
    #   sends go there, not through EPMD, until another +connect+ names another
    # @param port [Integer, nil] the peer's distribution port
    # @return [true]
    # @raise [ErlDP::NodeNotFound] when EPMD does not know the node, or +host+ has no address
    # @raise [ErlDP::Timeout] when the resolver or the peer does not answer in time
    # @raise [ErlDP::AuthError] when the cookies differ
    # @raise [ErlDP::ConnectionError] when the node cannot be reached
    # @raise [ArgumentError] for a host with a port in it, or an IPv6 address on an IPv4 node
    def connect(peer, host: nil, port: nil)
      native_connect(peer, host, Arguments.port(port))
    end

    # Calls +mod:fun(*args)+ on +node+ and returns its value, like +erpc:call/5+.
    #
    # @example
    #   node.rpc(:"peer@host", :lists, :sum, [[1, 2, 3]])   # => 6
    # @param node [Symbol, String] the node to run on
    # @param mod [Symbol, String] the module
    # @param fun [Symbol, String] the function
    # @param args [Array] the arguments, one term each
    # @param timeout [Numeric, nil] seconds to wait (connecting included); +nil+ waits for ever
    # @return [Object] the function's value
    # @raise [ErlDP::RpcError] when the function raises, exits or throws; {RpcError#reason} holds
    #   +ErlDP::Tuple[class, reason, stacktrace]+
    # @raise [ErlDP::Timeout] when no answer came in time (the remote call is then stopped)
    # @raise [ErlDP::EncodeError] when an argument has no Erlang form
    def rpc(node, mod, fun, args = [], timeout: DEFAULT_TIMEOUT)
      native_rpc(node, mod, fun, args, Arguments.seconds(timeout, "timeout"))
    end

    # +gen_server:call(Dest, Request, Timeout)+.
    #
    # @example
    #   node.call([:my_server, :"peer@host"], :get_state, timeout: 5)
    # @param dest [ErlDP::Pid, Array(Symbol|String, Symbol|String)] a pid or +[name, node]+
    # @param request [Object] any term
    # @param timeout [Numeric, nil] seconds to wait; +nil+ waits for ever
    # @return [Object] the server's reply
    # @raise [ErlDP::RpcError] when the server does not exist or dies first; the reason is
    #   +ErlDP::Tuple[:exit, reason, []]+, as +gen_server:call+ exits
    # @raise [ErlDP::Timeout] when no reply came in time
    def call(dest, request, timeout: DEFAULT_TIMEOUT)
      native_call(dest, request, Arguments.seconds(timeout, "timeout"))
    end

    # A new mailbox: a process of this node that Erlang code can send to, link to and monitor.
    # It stays open until {Mailbox#close} or {#close}; one without a name also until it is garbage
    # collected. A registered one is kept by the node until it is closed, since Erlang code
    # reaches it by its name.
    #
    # @param name [Symbol, String, nil] a name to register, so that Erlang code can send to
    #   +{name, 'ruby@host'}+
    # @return [Mailbox]
    # @raise [ErlDP::NameTaken] when another mailbox of the node has the name
    def mailbox(name = nil)
      box = native_mailbox(name)
      keep(box) unless name.nil?
      box
    end

    # Unregisters from EPMD, closes every connection and mailbox, and fails calls still waiting
    # with ErlDP::ClosedError. Closing twice is fine. In a child forked after Node.new, closing
    # does nothing: the node is the parent's, and the parent's at_exit handlers run in children
    # too; every other method raises ErlDP::Error there.
    # @return [nil]
    def close
      native_close
      KEPT_LOCK.synchronize { @kept = nil }
      nil
    end

    # Guards the registered mailboxes each node keeps.
    KEPT_LOCK = Mutex.new
    private_constant :KEPT_LOCK

    private

    def keep(box)
      KEPT_LOCK.synchronize { (@kept ||= {}.compare_by_identity)[box] = true }
      box.instance_variable_set(:@node, self)
    end

    # Called by Mailbox#close: the node no longer keeps +box+.
    def release(box)
      KEPT_LOCK.synchronize { @kept&.delete(box) }
    end
  end
end
