# frozen_string_literal: true

# Documentation for the value classes defined by the native extension. Their instances come
# only from the wire (or a mailbox); they are frozen, compare with +==+ and +eql?+ like the
# Erlang values, and can be Hash keys.
module ErlDP
  # What the value classes share as Ruby objects. A copy of a value is the value itself, as
  # with Integer and Symbol (ActiveSupport's +deep_dup+ and +clone+ of a Hash holding pids
  # work), and Marshal writes a value as its External Term Format, as +term_to_binary/1+ does
  # (a pid kept in +Rails.cache+ or sent to another Ruby process is the same pid there).
  module Value
    # @return [self]
    def dup
      self
    end

    # @param freeze [Boolean, nil] false raises: a value cannot be unfrozen
    # @return [self]
    # @raise [ArgumentError] for +freeze: false+
    def clone(freeze: nil)
      raise ArgumentError, "can't unfreeze #{self.class}" if freeze == false

      self
    end

    # @return [String] the value's External Term Format
    def _dump(_level)
      ErlDP.term_to_binary(self)
    end

    # Marshal's half of reading a value back.
    module Load
      # @param bytes [String] what {Value#_dump} wrote
      # @return [Pid, Ref, Port, Opaque]
      # @raise [TypeError] when the bytes hold another kind of value
      def _load(bytes)
        value = ErlDP.binary_to_term(bytes)
        raise TypeError, "marshaled #{name} holds #{value.class}" unless value.is_a?(self)

        value
      end
    end
  end

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

  [Pid, Ref, Port, Opaque].each do |value_class|
    value_class.include(Value)
    value_class.extend(Value::Load)
  end
end
