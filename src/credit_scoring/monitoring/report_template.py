"""The Jinja2 template of the HTML drift report (rendered by ``drift.render_html``)."""

# ruff: noqa: E501  (HTML lines)

DRIFT_REPORT_HTML = """<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Drift report {{ r.model_name }}</title>
<style>
body{font-family:sans-serif;margin:2em;max-width:1000px}
table{border-collapse:collapse;font-size:13px}td,th{border:1px solid #ccc;padding:3px 8px;text-align:right}
th{background:#eee}td:first-child{text-align:left}
.stable{color:#2a7a2a}.moderate{color:#b36b00}.significant{color:#c00;font-weight:bold}
.status{font-size:1.2em;padding:.4em;border-radius:4px;display:inline-block}
.drift{background:#fdd}.ok{background:#dfd}.warning{background:#ffd}.insufficient_data{background:#eee}
</style></head><body>
<h1>Drift report: {{ r.model_name }}{% if r.model_version %} version {{ r.model_version }}{% endif %}</h1>
<p>Window {{ r.window_start.isoformat() }} to {{ r.window_end.isoformat() }}:
{{ r.n_current }} predictions vs {{ r.n_reference }} reference rows
{% if r.reference_run_id %}(reference run {{ r.reference_run_id }}){% endif %}.</p>
<p class="status {{ r.status }}">{{ r.status }}: {{ r.message }}</p>
{% if r.reasons %}<ul>{% for x in r.reasons %}<li>{{ x }}</li>{% endfor %}</ul>{% endif %}
{% if r.score_psi is not none %}<h2>Score</h2>
<p>PSI <span class="{{ r.score_band }}">{{ '%.4f'|format(r.score_psi) }} ({{ r.score_band }})</span></p>{% endif %}
{% for name, img in plots.items() %}<img alt="{{ name }}" src="data:image/png;base64,{{ img }}"><br>{% endfor %}
{% if r.decisions %}<h2>Decisions</h2><table><tr><th>decision</th><th>reference</th><th>window</th></tr>
{% for k in (r.decisions.reference.keys()|list + r.decisions.current.keys()|list)|unique|sort %}
<tr><td>{{ k }}</td><td>{{ '%.1f%%'|format(100*r.decisions.reference.get(k, 0)) }}</td>
<td>{{ '%.1f%%'|format(100*r.decisions.current.get(k, 0)) }}</td></tr>{% endfor %}</table>
<p>Largest change {{ '%.1f%%'|format(100*r.decisions.max_abs_change) }}{% if r.decisions.p_value is not none %},
chi-square p = {{ '%.3g'|format(r.decisions.p_value) }}{% endif %}</p>{% endif %}
{% if r.features %}<h2>Features</h2><table>
<tr><th>feature</th><th>type</th><th>PSI</th><th>band</th><th>missing (ref)</th><th>missing (window)</th><th>unseen share</th><th>unseen values</th></tr>
{% for f in r.features|sort(attribute='psi', reverse=True) %}<tr><td>{{ f.name }}</td><td>{{ f.type }}</td>
<td>{{ '%.4f'|format(f.psi) }}</td><td class="{{ f.band }}">{{ f.band }}</td>
<td>{{ '%.1f%%'|format(100*f.missing_rate_reference) }}</td><td>{{ '%.1f%%'|format(100*f.missing_rate_current) }}</td>
<td>{% if f.unseen_share is not none %}{{ '%.1f%%'|format(100*f.unseen_share) }}{% endif %}</td>
<td>{{ f.unseen_values|join(', ') }}</td></tr>{% endfor %}</table>{% endif %}
<p><small>Generated {{ r.created_at.isoformat() }}. PSI bands: &lt; 0.10 stable, 0.10-0.25 moderate, &ge; 0.25 significant.</small></p>
</body></html>
"""
