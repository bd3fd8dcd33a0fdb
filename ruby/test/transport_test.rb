# frozen_string_literal: true

require "openssl"
require "pathname"
require "test_helper"

# TLS (+tls:+) and IPv6 (+ipv6: true+) distribution against BEAM nodes started with
# +-proto_dist inet_tls+ and +inet6_tcp+. The certificates are made here, with Ruby's OpenSSL.
class TransportTest < Minitest::Test
  include ErlDPTest::Helpers

  # A CA, a node certificate it signed for this host's loopback names, and a CA that signed
  # nothing of ours; the option file BEAM reads.
  class Certificates
    attr_reader :dir

    def initialize
      @dir = Dir.mktmpdir("erldp-ruby-tls-")
      host = Socket.gethostname.split(".").first
      ca_key, ca = authority("ErlDP Ruby test CA")
      write("ca.pem", ca.to_pem)
      write("other_ca.pem", authority("ErlDP Ruby other CA").last.to_pem)
      key = OpenSSL::PKey::EC.generate("prime256v1")
      cert = certificate(key, "node", ca, ca_key,
                         "DNS:#{host},DNS:localhost,IP:127.0.0.1,IP:0:0:0:0:0:0:0:1")
      write("node.pem", cert.to_pem)
      write("node.key", key.private_to_pem)
      opts = "[{certfile, #{path('node.pem').inspect}}, {keyfile, #{path('node.key').inspect}}, " \
             "{cacertfile, #{path('ca.pem').inspect}}, {verify, verify_peer}]"
      write("opt.conf", "[{server, #{opts}}, {client, #{opts}}].\n")
    end

    def path(name)
      File.join(@dir, name)
    end

    def remove
      FileUtils.rm_rf(@dir)
    end

    private

    def write(name, text)
      File.write(path(name), text)
    end

    def authority(name)
      key = OpenSSL::PKey::EC.generate("prime256v1")
      cert = base(key, name)
      cert.issuer = cert.subject
      ext = OpenSSL::X509::ExtensionFactory.new(cert, cert)
      cert.add_extension(ext.create_extension("basicConstraints", "CA:TRUE", true))
      cert.add_extension(ext.create_extension("keyUsage", "keyCertSign,cRLSign", true))
      cert.sign(key, OpenSSL::Digest.new("SHA256"))
      [key, cert]
    end

    def certificate(key, name, ca, ca_key, alt_names)
      cert = base(key, name)
      cert.issuer = ca.subject
      ext = OpenSSL::X509::ExtensionFactory.new(ca, cert)
      cert.add_extension(ext.create_extension("subjectAltName", alt_names))
      cert.add_extension(ext.create_extension("keyUsage", "digitalSignature", true))
      cert.add_extension(ext.create_extension("extendedKeyUsage", "serverAuth,clientAuth"))
      cert.sign(ca_key, OpenSSL::Digest.new("SHA256"))
      cert
    end

    def base(key, name)
      cert = OpenSSL::X509::Certificate.new
      cert.version = 2
      cert.serial = SecureRandom.random_number(1 << 64)
      cert.subject = OpenSSL::X509::Name.parse("/CN=#{name}")
      cert.public_key = key
      cert.not_before = Time.now - 3600
      cert.not_after = Time.now + (365 * 24 * 3600)
      cert
    end
  end

  def setup
    @certs = Certificates.new
  end

  def teardown
    super
    @peers&.each(&:stop)
    @certs.remove
  end

  def start_peer(*args)
    peer = ErlDPTest::BeamPeer.new(args: args)
    (@peers ||= []) << peer
    peer
  end

  def tls_peer
    start_peer("-proto_dist", "inet_tls", "-ssl_dist_optfile", @certs.path("opt.conf"))
  end

  def tls_options(cacertfile: "ca.pem")
    { certfile: @certs.path("node.pem"), keyfile: Pathname.new(@certs.path("node.key")),
      cacertfile: @certs.path(cacertfile), verify: :verify_peer }
  end

  # {Protocol, Family} of the peer's connection to +node+.
  def carried(peer, node)
    peer.eval!("(fun() -> {ok, Info} = net_kernel:node_info(#{atom(node.name)}), " \
               "{address, {net_address, _, _, P, F}} = lists:keyfind(address, 1, Info), {P, F} end)()")
  end

  def test_tls_both_directions
    peer = tls_peer
    node = new_node(cookie: peer.cookie, tls: tls_options)
    assert_equal peer.node, node.rpc(peer.node, :erlang, :node, [])
    assert_equal "{tls,inet}", carried(peer, node)

    other = new_node(cookie: peer.cookie, tls: { optfile: @certs.path("opt.conf") })
    assert_equal "pong", peer.eval!("net_adm:ping(#{atom(other.name)})")
    assert_equal "{tls,inet}", carried(peer, other)
  end

  def test_tls_refusals_name_the_cause
    peer = tls_peer
    node = new_node(cookie: peer.cookie, tls: tls_options(cacertfile: "other_ca.pem"))
    error = assert_raises(ErlDP::ConnectionError) { node.connect(peer.node) }
    assert_includes error.message, "not signed by a CA in our cacertfile"

    plain = new_node(cookie: peer.cookie)
    error = assert_raises(ErlDP::ConnectionError) { plain.connect(peer.node) }
    assert_includes error.message, "runs TLS distribution"
  end

  def test_tls_options_are_checked
    error = assert_raises(ArgumentError) { new_node(tls: tls_options.merge(verfy: :verify_none)) }
    assert_includes error.message, ":verfy"
    error = assert_raises(ArgumentError) { new_node(tls: tls_options.merge(verify: :verify_all)) }
    assert_includes error.message, "verify_peer or verify_none"
    error = assert_raises(ArgumentError) { new_node(tls: tls_options.merge(keyfile: @certs.path("ca.pem"))) }
    assert_includes error.message, "ca.pem"
    assert_raises(ArgumentError) { new_node(tls: "yes") }
  end

  def test_ipv6
    peer = start_peer("-proto_dist", "inet6_tcp")
    node = new_node(cookie: peer.cookie, ipv6: true)
    assert_equal peer.node, node.rpc(peer.node, :erlang, :node, [])
    assert_equal "{tcp,inet6}", carried(peer, node)
  end
end
