"""Payment batches: a pain.001 file uploaded as one batch of payments, one policy decision per
item, approved (or rejected, or cancelled) as one; its last approval posts every accepted item
as a payment through core.payments' own posting, in one transaction."""
