# frozen_string_literal: true

module ErlDP
  # A name registered with +global+, as a destination: {Node#call}, {Node#cast},
  # +send_message+ and Mailbox#monitor resolve it to its pid each time, as +gen_server+ does for
  # +{global, Name}+.
  #
  # @example
  #   node.call(ErlDP::Global[:config_server], :get)
  class Global
    # @!method self.[](name)
    #   @param name [Symbol, String]
    #   @return [Global]

    # @!method name
    #   @return [Symbol]
  end

  # Cluster membership: global names and pg groups. A visible node (+hidden: false+) takes part
  # in +global+ as a BEAM node does: +global:sync()+ returns on the BEAM nodes, names registered
  # anywhere are known here, and ours everywhere. pg works for hidden and visible nodes alike.
  class Node
    # +global:register_name(Name, Pid)+: registers +name+ across the cluster for a process of
    # this node. Waits as long as global's locks take.
    #
    # @example
    #   node.register_global(:ruby_worker, box)   # => true
    # @param name [Symbol, String, Object] a Symbol or String is an atom; other terms are used as
    #   they are
    # @param process [Mailbox, Served, ErlDP::Pid] a process of this node
    # @return [Boolean] true, or false when the name is taken (or the process has a global name)
    # @raise [ArgumentError] on a hidden node, which cannot register global names
    def register_global(name, process)
      native_register_global(name, process.is_a?(Pid) ? process : process.pid)
    end

    # @!method whereis_global(name)
    #   +global:whereis_name(Name)+. A visible node answers from its own copy of the names; a
    #   hidden one asks its connected peers.
    #   @param name [Symbol, String, Object]
    #   @return [ErlDP::Pid, nil]

    # @!method unregister_global(name)
    #   +global:unregister_name(Name)+ on every node of the cluster (a name not registered is no
    #   error). Needs a visible node.
    #   @param name [Symbol, String, Object]
    #   @return [nil]

    # +pg:get_members(Scope, Group)+: the members of +group+, ours and our peers', a pid once
    # per join. The first use of a scope on this node starts it, and the peers' members arrive
    # as they answer: that first call may lack them (call it once at start when that matters).
    #
    # @param group [Object] any term (+:room+ is the atom, +"room"+ a binary)
    # @param scope [Symbol, String] the pg scope; BEAM runs +pg+ with +-kernel start_pg true+
    # @return [Array<ErlDP::Pid>]
    def members(group, scope: :pg)
      native_members(scope, group)
    end
  end

  class Mailbox
    # +pg:join(Scope, Group, self())+: every connected peer that runs +scope+ lists this mailbox
    # in +pg:get_members+ until it leaves or closes. Joining twice counts twice. A scope that no
    # peer runs is no error.
    #
    # @example
    #   box.join(:room)
    #   node.members(:room)   # => [#<ErlDP::Pid ...>]
    # @param group [Object] any term
    # @param scope [Symbol, String]
    # @return [nil]
    def join(group, scope: :pg)
      native_join(scope, group)
    end

    # +pg:leave(Scope, Group, self())+, once.
    # @param group [Object]
    # @param scope [Symbol, String]
    # @return [Boolean] false when the mailbox was not in the group
    def leave(group, scope: :pg)
      native_leave(scope, group)
    end

    # @!method monitor_nodes
    #   +net_kernel:monitor_nodes(true)+: a Message of kind +:node_up+ (term +{nodeup, Node}+)
    #   when a node connects and +:node_down+ (+{nodedown, Node}+) when its connection goes; its
    #   +node+ is the node's name. Called twice, each message comes twice.
    #   @return [nil]

    # @!method demonitor_nodes
    #   Undoes one {#monitor_nodes}.
    #   @return [nil]
  end
end
