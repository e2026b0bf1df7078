import type { ChartConfiguration, Plugin } from 'chart.js';
import { roles, userStatuses, type Overview } from '@roster/shared';
import { byteUnits, capitalize, formatBytes, formatDay, formatMonth } from './format';

const unitNumber = new Intl.NumberFormat(undefined, { maximumFractionDigits: 3 });

/**
 * A byte axis at round binary steps, every tick in one unit: 1.5 GiB of data is marked 0, 0.25 GiB,
 * … 1.5 GiB; 700 MiB is marked in steps of 128 MiB.
 */
export function byteAxis(largest: number): { max: number; stepSize: number; label: (bytes: number) => string } {
  const exponent = largest >= 1024 ? Math.min(byteUnits.length - 1, Math.floor(Math.log2(largest) / 10)) : 0;
  const unit = 1024 ** exponent;
  const inUnits = Math.max(largest / unit, 1);
  const steps = [1 / 8, 1 / 4, 1 / 2, 1, 2, 4, 8, 16, 32, 64, 128, 256, 512].filter((step) => exponent > 0 || step >= 1);
  const step = steps.find((s) => inUnits / s <= 6) ?? 1024;
  return {
    max: Math.ceil(inUnits / step) * step * unit,
    stepSize: step * unit,
    label: (bytes) => `${unitNumber.format(bytes / unit)} ${byteUnits[exponent]}`,
  };
}

/** The theme's colours, read when a chart is made (charts are remade when the theme changes). */
export interface Palette {
  accent: string;
  warn: string;
  ok: string;
  muted: string;
  border: string;
  surface: string;
}

export function palette(): Palette {
  const css = (name: string) => getComputedStyle(document.documentElement).getPropertyValue(name).trim();
  return { accent: css('--accent'), warn: css('--warn'), ok: css('--ok'), muted: css('--muted'), border: css('--border'), surface: css('--surface') };
}

/**
 * Writes what each axis shows (its title and tick labels) for the chart's accessible description:
 * a canvas is a picture, and this is its words.
 */
export function describeAxes(onDescribe: (text: string) => void): Plugin {
  return {
    id: 'describeAxes',
    afterUpdate(chart) {
      const parts = Object.values(chart.scales).map((scale) => {
        const title = (scale.options as { title?: { text?: string } }).title?.text ?? scale.id;
        const labels = scale.ticks.map((tick) => String(tick.label));
        const shown = scale.type === 'category' && labels.length > 6 ? `${labels[0]} to ${labels.at(-1)}` : labels.join(', ');
        return `${title}: ${shown}`;
      });
      onDescribe(parts.join('. '));
    },
  };
}

const title = (text: string) => ({ display: true, text });

/** The statistics page's charts, from the overview and the theme's colours. */
export function overviewCharts(overview: Overview, colours: Palette): Record<'roles' | 'status' | 'days' | 'usage' | 'storage', ChartConfiguration> {
  // The same colour for a role or status as its badge in the users table.
  const roleColours = { admin: colours.accent, moderator: colours.warn, user: colours.muted };
  const statusColours = { active: colours.ok, inactive: colours.muted };
  const counts = (text: string) => ({ ticks: { precision: 0 }, beginAtZero: true, title: title(text) });
  const storage = byteAxis(Math.max(0, ...overview.storage.map((s) => s.size_bytes)));
  return {
    roles: {
      type: 'doughnut',
      data: {
        labels: roles.map(capitalize),
        datasets: [{ data: roles.map((r) => overview.users_by_role[r]), backgroundColor: roles.map((r) => roleColours[r]), borderColor: colours.surface }],
      },
      options: { plugins: { legend: { position: 'bottom' } }, animation: false },
    },
    status: {
      type: 'bar',
      data: {
        labels: userStatuses.map(capitalize),
        datasets: [{ label: 'Users', data: userStatuses.map((s) => overview.users_by_status[s]), backgroundColor: userStatuses.map((s) => statusColours[s]) }],
      },
      options: { plugins: { legend: { display: false } }, scales: { x: { title: title('Status') }, y: counts('Users') }, animation: false },
    },
    days: {
      type: 'line',
      data: {
        labels: overview.days.map((d) => formatDay(d.day)),
        datasets: [
          { label: 'Sign-ins', data: overview.days.map((d) => d.sign_ins), borderColor: colours.accent, backgroundColor: colours.accent, tension: 0.3 },
          { label: 'Active sessions', data: overview.days.map((d) => d.active_sessions), borderColor: colours.ok, backgroundColor: colours.ok, tension: 0.3 },
        ],
      },
      options: {
        plugins: { legend: { position: 'bottom' } },
        scales: { x: { ticks: { maxRotation: 0, autoSkipPadding: 16 }, title: title('Day (UTC)') }, y: counts('Count') },
        animation: false,
      },
    },
    usage: {
      type: 'bar',
      data: {
        labels: overview.usage_by_month.map((m) => formatMonth(m.month, 'short')),
        datasets: [
          { label: 'Tokens', data: overview.usage_by_month.map((m) => m.tokens), backgroundColor: colours.accent, yAxisID: 'tokens' },
          { label: 'Minutes', data: overview.usage_by_month.map((m) => m.minutes), backgroundColor: colours.warn, yAxisID: 'minutes' },
        ],
      },
      options: {
        plugins: { legend: { position: 'bottom' } },
        scales: {
          x: { title: title('Month (UTC)') },
          tokens: { position: 'left', beginAtZero: true, title: title('Tokens') },
          minutes: { position: 'right', beginAtZero: true, grid: { drawOnChartArea: false }, title: title('Minutes') },
        },
        animation: false,
      },
    },
    storage: {
      type: 'bar',
      data: {
        labels: overview.storage.map((s) => s.username),
        datasets: [{ label: 'Storage', data: overview.storage.map((s) => s.size_bytes), backgroundColor: colours.accent }],
      },
      options: {
        indexAxis: 'y',
        plugins: { legend: { display: false }, tooltip: { callbacks: { label: (item) => formatBytes(Number(item.raw)) } } },
        scales: {
          x: { min: 0, max: storage.max, ticks: { stepSize: storage.stepSize, callback: (value) => storage.label(Number(value)) }, title: title('Storage') },
          y: { title: title('User') },
        },
        animation: false,
      },
    },
  };
}
