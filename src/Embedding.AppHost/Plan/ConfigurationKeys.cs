using System.Collections;
using System.Globalization;
using System.Linq.Expressions;
using System.Reflection;

namespace Embedding.AppHost;

/// <summary>
/// A typed options object as the configuration keys another process binds it from: every settable property whose value
/// differs from a new instance's, and those the caller always wants said (what a worker is: its model, its backend), nested sections and lists included ("Worker:OpenAI:Model"). A property added to the
/// options class flows through here with no line of its own; <see cref="EnvironmentName"/> spells a key as an environment
/// variable ("Worker__OpenAI__Model").
/// </summary>
public static class ConfigurationKeys
{
    /// <summary>The keys of <paramref name="options"/> under <paramref name="section"/> ("" for keys relative to the object).</summary>
    public static IReadOnlyList<KeyValuePair<string, string>> Of<T>(T options, string section, params Expression<Func<T, object?>>[] always)
        where T : class, new()
    {
        var said = always.Select(p => Key(section, p)).ToHashSet();
        return Walk(options, new T(), section, said).ToList();
    }

    /// <summary>The key of one property, e.g. <c>Key&lt;WorkerOptions&gt;("Worker", o => o.OpenAI.BaseUrl)</c>: for values that are references, not text.</summary>
    public static string Key<T>(string section, Expression<Func<T, object?>> property)
    {
        var names = new Stack<string>();
        for (var e = property.Body is UnaryExpression u ? u.Operand : property.Body; e is MemberExpression m; e = m.Expression!) names.Push(m.Member.Name);
        return string.Join(":", section.Length == 0 ? names : names.Prepend(section));
    }

    public static string EnvironmentName(string key) => key.Replace(":", "__");

    private static IEnumerable<KeyValuePair<string, string>> Walk(object? value, object? defaults, string key, HashSet<string> always)
    {
        if (value is null) yield break;
        if (Text(value) is { } text)
        {
            if (always.Contains(key) || defaults is null || Text(defaults) != text) yield return new(key, text);
            yield break;
        }
        if (value is IList list)
        {
            for (var i = 0; i < list.Count; i++)
                foreach (var item in Walk(list[i], null, Join(key, i.ToString(CultureInfo.InvariantCulture)), always)) yield return item;
            yield break;
        }
        foreach (var property in value.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
        {
            if (property.GetMethod is null || property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0) continue;
            foreach (var item in Walk(property.GetValue(value), defaults is null ? null : property.GetValue(defaults), Join(key, property.Name), always))
                yield return item;
        }
    }

    private static string Join(string section, string name) => section.Length == 0 ? name : $"{section}:{name}";

    /// <summary>A value as the configuration binder reads it back, or null for a section.</summary>
    private static string? Text(object value) => value switch
    {
        string s => s,
        bool b => b ? "true" : "false",
        Enum e => e.ToString(),
        Uri u => u.ToString(),
        IFormattable f when value.GetType().IsPrimitive || value is decimal => f.ToString(null, CultureInfo.InvariantCulture),
        _ => null,
    };
}
