import type { bulkActions } from '@roster/shared';

export type BulkAction = (typeof bulkActions)[number];
