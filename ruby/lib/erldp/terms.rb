# frozen_string_literal: true

module ErlDP
  # An Erlang tuple. It is an Array, so it indexes, iterates and pattern-matches like one:
  #
  #   case message.term
  #   in [:ok, value] then value
  #   in [:error, reason] then raise reason.to_s
  #   end
  #
  # Build one with +ErlDP::Tuple[:ok, 1]+; a plain Array is sent as an Erlang list. A tuple
  # equals (+==+, +eql?+) only another tuple with equal elements, as in Erlang, so tuples and
  # lists can be keys of one Hash. (A plain Array on the left of +==+ still compares elements
  # only: that is Array's own +==+.)
  class Tuple < Array
    # @param other [Object]
    # @return [Boolean] whether +other+ is a Tuple with equal elements
    def ==(other)
      other.is_a?(Tuple) && super
    end

    # @param other [Object]
    # @return [Boolean] whether +other+ is a Tuple with +eql?+ elements
    def eql?(other)
      other.is_a?(Tuple) && super
    end

    # @return [Integer] differs from the hash of an Array with the same elements
    def hash
      [Tuple, super].hash
    end

    # @return [String] like +ErlDP::Tuple[:ok, 1]+
    def inspect
      "ErlDP::Tuple#{super}"
    end
    alias to_s inspect
  end

  # An Erlang bitstring whose length is not a whole number of bytes, such as +<<1, 2:3>>+.
  # Whole binaries are Strings.
  class Bitstring
    # @return [String] the bytes holding the bits (binary encoding, frozen); bits past {#bits} in
    #   the last byte are zero
    attr_reader :bytes

    # @return [Integer] the length in bits, like Erlang's +bit_size/1+
    attr_reader :bits

    # @param bytes [String] at least +(bits + 7) / 8+ bytes; the bits are read from the first
    #   byte's most significant bit on, and later bytes and bits are dropped
    # @param bits [Integer] the length in bits; a multiple of 8 makes an ordinary binary on the
    #   wire (and a String when it comes back)
    # @raise [ArgumentError] when +bytes+ is too short or +bits+ negative
    def initialize(bytes, bits)
      bits = Integer(bits)
      raise ArgumentError, "a Bitstring cannot have #{bits} bits" if bits.negative?

      size = (bits + 7) / 8
      bytes = String(bytes).b
      raise ArgumentError, "#{bits} bits need #{size} bytes, not #{bytes.bytesize}" if bytes.bytesize < size

      bytes = bytes.byteslice(0, size)
      spare = size * 8 - bits
      bytes.setbyte(size - 1, bytes.getbyte(size - 1) & (0xFF << spare) & 0xFF) if spare.positive?
      @bytes = bytes.freeze
      @bits = bits
      freeze
    end

    # @param other [Object]
    # @return [Boolean] whether +other+ is a Bitstring with the same bits
    def ==(other)
      other.is_a?(Bitstring) && bits == other.bits && bytes == other.bytes
    end
    alias eql? ==

    # @return [Integer]
    def hash
      [Bitstring, bits, bytes].hash
    end

    # @return [String] in Erlang syntax, like +<<1,2:3>>+
    def to_s
      whole, rest = bits.divmod(8)
      segments = bytes.bytes.first(whole).map(&:to_s)
      segments << "#{bytes.getbyte(whole) >> (8 - rest)}:#{rest}" if rest.positive?
      "<<#{segments.join(',')}>>"
    end

    # @return [String]
    def inspect
      "#<ErlDP::Bitstring #{self}>"
    end
  end

  # An Erlang list whose tail is not a list, such as +[1, 2 | 3]+.
  class ImproperList
    # @return [Array] the elements before the tail (at least one)
    attr_reader :elements

    # @return [Object] the tail: any term but a list
    attr_reader :tail

    # @param elements [Array] one element or more
    # @param tail [Object] the tail; not an Array (that would be a proper list), but a Tuple is fine
    # @raise [ArgumentError] when there are no elements or +tail+ is a list
    def initialize(elements, tail)
      raise TypeError, "the elements of an ImproperList must be an Array" unless elements.is_a?(Array)
      raise ArgumentError, "an ImproperList has at least one element" if elements.empty?
      raise ArgumentError, "a list as the tail makes a proper list: use an Array" if tail.is_a?(Array) && !tail.is_a?(Tuple)

      @elements = elements
      @tail = tail
    end

    # @param other [Object]
    # @return [Boolean] whether +other+ is an ImproperList with equal elements and tail
    def ==(other)
      other.is_a?(ImproperList) && elements == other.elements && tail == other.tail
    end

    # @param other [Object]
    # @return [Boolean]
    def eql?(other)
      other.is_a?(ImproperList) && elements.eql?(other.elements) && tail.eql?(other.tail)
    end

    # @return [Integer]
    def hash
      [ImproperList, elements, tail].hash
    end

    # @return [Array] +[elements, tail]+, for pattern matching: +in ErlDP::ImproperList[[head], tail]+
    def deconstruct
      [elements, tail]
    end

    # @return [String] like +#<ErlDP::ImproperList [1, 2 | 3]>+
    def inspect
      "#<ErlDP::ImproperList [#{elements.map(&:inspect).join(', ')} | #{tail.inspect}]>"
    end
    alias to_s inspect
  end
end
