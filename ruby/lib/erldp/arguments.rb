# frozen_string_literal: true

module ErlDP
  # Checks of arguments that the extension would refuse without naming them ("no implicit
  # conversion to float from string", "fixnum too big to convert into `u16`").
  # @api private
  module Arguments
    module_function

    # +value+, a number of seconds or +nil+ (for ever), given as the keyword +name+.
    def seconds(value, name)
      return value if value.nil? || value.is_a?(Numeric)

      raise TypeError, "#{name}: must be a number of seconds or nil, not #{value.inspect}"
    end

    # +value+, a TCP port or +nil+.
    def port(value)
      return value if value.nil? || (value.is_a?(Integer) && value.between?(0, 65_535))

      raise ArgumentError, "port: must be an Integer from 0 to 65535 or nil, not #{value.inspect}"
    end
  end
end
