# frozen_string_literal: true

module ErlDP
  # The gem's version, which is the version of the Rust crates it is built from.
  VERSION = "0.1.0"
end
