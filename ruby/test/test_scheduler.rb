# frozen_string_literal: true

# A small Fiber scheduler for the tests, with the interface that the async gem and Falcon
# implement (Fiber::Scheduler in Ruby's documentation): fibers made with Fiber.schedule run
# until they wait for an IO, sleep or block; the loop then resumes whichever can go on. The
# thread's end closes the scheduler, which runs the loop until every fiber is done.
class TestScheduler
  def initialize
    @readable = {}
    @writable = {}
    @timers = []
    @unblocked = []
    @blocked = 0
    @lock = Thread::Mutex.new
    @wake_reader, @wake_writer = IO.pipe
  end

  # Runs the fibers until none waits for anything.
  def run
    until idle?
      readable, writable = IO.select([@wake_reader, *@readable.keys], @writable.keys, nil, next_timeout)
      @wake_reader.read_nonblock(64, exception: false) if readable&.delete(@wake_reader)
      readable&.each { |io| @readable[io]&.resume(IO::READABLE) }
      writable&.each { |io| @writable[io]&.resume(IO::WRITABLE) }
      due = @timers.select { |at, _| at <= now }
      due.each { |timer| timer[1].resume(false) if @timers.any? { |t| t.equal?(timer) } }
      @lock.synchronize { @unblocked.slice!(0..) }.each { |fiber| fiber.resume(true) if fiber.alive? }
    end
  end

  # Called when the thread ends (or Fiber.set_scheduler replaces this one).
  def close
    run
  ensure
    @wake_reader.close
    @wake_writer.close
  end

  # Fiber.schedule.
  def fiber(&block)
    fiber = Fiber.new(blocking: false, &block)
    fiber.resume
    fiber
  end

  # IO#wait_readable and the like: the events that are ready, or false after +timeout+.
  def io_wait(io, events, timeout)
    @readable[io] = Fiber.current if events.anybits?(IO::READABLE)
    @writable[io] = Fiber.current if events.anybits?(IO::WRITABLE)
    timer = add_timer(timeout)
    Fiber.yield
  ensure
    @readable.delete(io)
    @writable.delete(io)
    remove_timer(timer)
  end

  # Kernel#sleep.
  def kernel_sleep(duration = nil)
    timer = add_timer(duration)
    Fiber.yield
  ensure
    remove_timer(timer)
  end

  # Thread::Mutex, Thread::Queue and the like, waiting for another fiber or thread.
  def block(_blocker, timeout = nil)
    @blocked += 1
    timer = add_timer(timeout)
    Fiber.yield
  ensure
    @blocked -= 1
    remove_timer(timer)
  end

  # May be called from another thread.
  def unblock(_blocker, fiber)
    @lock.synchronize { @unblocked << fiber }
    @wake_writer.write_nonblock(".", exception: false)
  end

  private

  def idle?
    @readable.empty? && @writable.empty? && @timers.empty? && @blocked.zero? &&
      @lock.synchronize { @unblocked.empty? }
  end

  def now
    Process.clock_gettime(Process::CLOCK_MONOTONIC)
  end

  def next_timeout
    earliest = @timers.map(&:first).min
    earliest && [earliest - now, 0].max
  end

  def add_timer(timeout)
    return nil unless timeout

    timer = [now + timeout, Fiber.current]
    @timers << timer
    timer
  end

  def remove_timer(timer)
    @timers.delete_if { |t| t.equal?(timer) } if timer
  end
end
