# frozen_string_literal: true

require "date"

module ErlDP
  # Elixir's values as Ruby sees them, and back: module names, structs, keyword lists,
  # charlists, and the calendar types.
  #
  # A struct arrives as the Hash it is on the wire, its module under +:__struct__+
  # (+%MyApp.User{name: "ann"}+ is +{__struct__: :"Elixir.MyApp.User", name: "ann"}+); a
  # keyword list as an Array of two-element Tuples; a charlist as an Array of Integers.
  #
  #   ErlDP::Elixir.module("MyApp.Api")                         # => :"Elixir.MyApp.Api"
  #   node.rpc(peer, ErlDP::Elixir.module("String"), :upcase, ["hi"])   # => "HI"
  #   user = node.rpc(peer, ErlDP::Elixir.module("MyApp.Users"), :get, [7])
  #   ErlDP::Elixir.struct_name(user)                           # => "MyApp.User"
  #   ErlDP::Elixir.struct("MyApp.User", name: "ann", age: 7)   # => {__struct__: :"Elixir.MyApp.User", ...}
  #   ErlDP::Elixir.keyword(timeout: 5, retry: true)            # => [Tuple[:timeout, 5], Tuple[:retry, true]]
  #   ErlDP::Elixir.charlist("héllo")                           # => [104, 233, 108, 108, 111]
  #   ErlDP::Elixir.datetime(Time.now)                          # => a %DateTime{} in UTC
  #   ErlDP::Elixir.to_ruby(node.rpc(peer, ErlDP::Elixir.module("DateTime"), :utc_now, []))  # => Time
  #
  # Precision: Elixir's calendar types hold microseconds, as Ruby's Time does exactly (to
  # nanoseconds, which are cut to microseconds when sent). A DateTime becomes a Time with its
  # UTC offset (+utc_offset+ plus +std_offset+); a NaiveDateTime, which has no zone, a Time in
  # UTC; a Date a Date; a Time (a time of day) a Time on 1970-01-01 UTC, whose clock fields are
  # what counts. Only the ISO calendar (+Calendar.ISO+, Elixir's default) is converted.
  module Elixir
    # The calendar of Elixir's calendar types.
    ISO = :"Elixir.Calendar.ISO"

    # @!method self.module(name)
    #   The module's atom for a name as Elixir code writes it: +"MyApp.Api"+ (or
    #   +:"MyApp.Api"+) is +:"Elixir.MyApp.Api"+. Other names (+:lists+, a name that already
    #   has the +Elixir.+ prefix) come back as they are, as Symbols.
    #   @param name [String, Symbol]
    #   @return [Symbol]

    # @!method self.alias(module)
    #   The module's name as Elixir code writes it: +:"Elixir.MyApp.Api"+ is +"MyApp.Api"+.
    #   @param module [Symbol, String]
    #   @return [String, nil] nil for a module that is not Elixir's (+:lists+)

    class << self
      # A struct, as Elixir's +%Module{fields}+: a Hash with the module under +:__struct__+.
      # Elixir code may expect every field of the struct to be there.
      # @param module [String, Symbol] +"MyApp.User"+ or +:"Elixir.MyApp.User"+
      # @param fields [Hash{Symbol => Object}]
      # @return [Hash]
      def struct(module_name, fields = {})
        { __struct__: self.module(module_name) }.merge(fields)
      end

      # The struct's module as Elixir writes it (+"MyApp.User"+), or nil when +value+ is no
      # struct.
      # @param value [Object]
      # @return [String, nil]
      def struct_name(value)
        return nil unless value.is_a?(Hash) && value[:__struct__].is_a?(Symbol)

        self.alias(value[:__struct__]) || value[:__struct__].to_s
      end

      # Whether +value+ is a struct (of +module_name+, when given).
      # @param value [Object]
      # @param module_name [String, Symbol, nil]
      # @return [Boolean]
      def struct?(value, module_name = nil)
        return false unless value.is_a?(Hash) && value[:__struct__].is_a?(Symbol)

        module_name.nil? || value[:__struct__] == self.module(module_name)
      end

      # A keyword list (+[timeout: 5, retry: true]+): a Hash's pairs, in order, as Tuples.
      # @param pairs [Hash{Symbol => Object}]
      # @return [Array<ErlDP::Tuple>]
      def keyword(pairs = {})
        pairs.map do |key, value|
          raise ArgumentError, "keyword list keys are atoms: #{key.inspect} is not a Symbol" unless key.is_a?(Symbol)

          Tuple[key, value]
        end
      end

      # Whether +value+ is a keyword list: an Array of two-element Tuples with Symbol keys.
      # @param value [Object]
      # @return [Boolean]
      def keyword?(value)
        value.is_a?(Array) && !value.is_a?(Tuple) &&
          value.all? { |pair| pair.is_a?(Tuple) && pair.size == 2 && pair[0].is_a?(Symbol) }
      end

      # A keyword list as a Hash; for a key given twice the first value counts, as with
      # +Keyword.get/2+.
      # @param list [Array<ErlDP::Tuple>]
      # @return [Hash{Symbol => Object}]
      # @raise [ArgumentError] when +list+ is not a keyword list
      def from_keyword(list)
        raise ArgumentError, "not a keyword list: #{list.inspect}" unless keyword?(list)

        list.each_with_object({}) { |(key, value), hash| hash[key] = value unless hash.key?(key) }
      end

      # A charlist (Erlang's strings, Elixir's +~c"hi"+): the String's code points.
      # @param text [String]
      # @return [Array<Integer>]
      def charlist(text)
        text.encode(Encoding::UTF_8).codepoints
      end

      # The String a charlist holds.
      # @param list [Array<Integer>]
      # @return [String] UTF-8
      # @raise [ArgumentError] when an element is not a code point
      def from_charlist(list)
        list.pack("U*")
      rescue RangeError, TypeError => e
        raise ArgumentError, "not a charlist: #{e.message}"
      end

      # A +%DateTime{}+ in UTC for a Time (microseconds kept, nanoseconds cut).
      # @param time [Time]
      # @return [Hash]
      def datetime(time)
        utc = time.getutc
        calendar("DateTime", date_fields(utc).merge(clock_fields(utc))).merge(
          time_zone: "Etc/UTC", zone_abbr: "UTC", utc_offset: 0, std_offset: 0
        )
      end

      # A +%NaiveDateTime{}+ with the Time's own date and clock (its zone is dropped).
      # @param time [Time]
      # @return [Hash]
      def naive_datetime(time)
        calendar("NaiveDateTime", date_fields(time).merge(clock_fields(time)))
      end

      # A +%Date{}+.
      # @param date [Date, Time]
      # @return [Hash]
      def date(date)
        calendar("Date", date_fields(date))
      end

      # A +%Time{}+ (a time of day) with the Time's clock.
      # @param time [Time]
      # @return [Hash]
      def time(time)
        calendar("Time", clock_fields(time))
      end

      # The Ruby value of a calendar struct: DateTime and NaiveDateTime become Time, Date
      # becomes Date, Time a Time on 1970-01-01 UTC; anything else comes back as it is.
      # @param value [Object]
      # @return [Object]
      def from_calendar(value)
        return value unless value.is_a?(Hash) && value[:calendar] == ISO

        case struct_name(value)
        when "DateTime"
          offset = value.fetch(:utc_offset) + value.fetch(:std_offset)
          Time.new(*ymd(value), value[:hour], value[:minute], seconds(value), offset)
        when "NaiveDateTime" then Time.utc(*ymd(value), value[:hour], value[:minute], seconds(value))
        when "Date" then Date.new(*ymd(value))
        when "Time" then Time.utc(1970, 1, 1, value[:hour], value[:minute], seconds(value))
        else value
        end
      end

      # +value+ with every calendar struct in it, at any depth, made a Ruby value
      # (see {from_calendar}).
      # @param value [Object] a received term
      # @return [Object]
      def to_ruby(value)
        case value
        when Tuple then Tuple.new(value.map { |element| to_ruby(element) })
        when Array then value.map { |element| to_ruby(element) }
        when Hash
          converted = from_calendar(value)
          converted.equal?(value) ? value.to_h { |key, element| [to_ruby(key), to_ruby(element)] } : converted
        else value
        end
      end

      # +value+ with every Time in it, at any depth, a +%DateTime{}+ in UTC, and every Date a
      # +%Date{}+, as Elixir code expects them.
      # @param value [Object] a term to send
      # @return [Object]
      def from_ruby(value)
        case value
        when Time then datetime(value)
        when Date then date(value)
        when Tuple then Tuple.new(value.map { |element| from_ruby(element) })
        when Array then value.map { |element| from_ruby(element) }
        when Hash then value.to_h { |key, element| [from_ruby(key), from_ruby(element)] }
        else value
        end
      end

      private

      def calendar(name, fields)
        struct(name, { calendar: ISO }.merge(fields))
      end

      def date_fields(date)
        { year: date.year, month: date.month, day: date.day }
      end

      # Elixir's +microsecond+ is +{value, precision}+: six digits from Ruby.
      def clock_fields(time)
        { hour: time.hour, minute: time.min, second: time.sec, microsecond: Tuple[time.usec, 6] }
      end

      def ymd(value)
        [value.fetch(:year), value.fetch(:month), value.fetch(:day)]
      end

      def seconds(value)
        micro, = value.fetch(:microsecond)
        value.fetch(:second) + Rational(micro, 1_000_000)
      end
    end
  end
end
