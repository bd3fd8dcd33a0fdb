# frozen_string_literal: true

# Documentation for the value classes defined by the native extension. Their instances come
# only from the wire (or a mailbox); they are frozen, compare with +==+ and +eql?+ like the
# Erlang values, and can be Hash keys.
module ErlDP
  # An Erlang process identifier.
  class Pid
    # @!method node
    #   @return [Symbol] the node the process lives on

    # @!method to_s
    #   @return [String] like +#Pid<'peer@host'.85.0.1699999999>+ (node, number, serial,
    #     creation)
  end

  # An Erlang reference: a monitor reference, an alias, or one from +make_ref()+.
  class Ref
    # @!method node
    #   @return [Symbol] the node that made the reference

    # @!method to_s
    #   @return [String] like +#Ref<'peer@host'.1.2.3.1699999999>+
  end

  # An Erlang port identifier.
  class Port
    # @!method node
    #   @return [Symbol] the node the port belongs to

    # @!method to_s
    #   @return [String] like +#Port<'peer@host'.5.1699999999>+
  end

  # An Erlang fun. It cannot be called from Ruby, but it goes back to Erlang unchanged.
  class Opaque
    # @!method kind
    #   @return [Symbol] +:export+ for +fun Module:Function/Arity+, +:local+ for a closure

    # @!method to_s
    #   @return [String] +fun lists:sum/1+ for an export, +#Fun<...>+ (its encoding) otherwise
  end
end
