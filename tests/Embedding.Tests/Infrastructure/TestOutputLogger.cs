using Microsoft.Extensions.Logging;
using Xunit.Abstractions;

namespace Embedding.Tests.Infrastructure;

/// <summary>Writes a component's log lines into the test's output, so a failure shows what the component decided.</summary>
public sealed class TestOutputLogger(ITestOutputHelper output, string category) : ILogger
{
    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;
    public bool IsEnabled(LogLevel logLevel) => logLevel >= LogLevel.Debug;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        try
        {
            output.WriteLine($"{DateTime.UtcNow:HH:mm:ss.fff} {logLevel} {category}: {formatter(state, exception)}{(exception is null ? "" : " " + exception)}");
        }
        catch (InvalidOperationException)
        {
            // The test has finished; nobody reads its output any more.
        }
    }
}
