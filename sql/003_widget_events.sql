-- 003: widgets emit events through the outbox, and the seed's create_widget keeps working.
--
-- The seed's procedure called aws_lambda.invoke synchronously inside the transaction (a rollback
-- after the call left a phantom event; a failed call lost or blocked the write). Here the
-- procedure only inserts; the widget table's trigger writes widget.created / widget.updated /
-- widget.deleted to the outbox in the same transaction, and delivery happens at commit.
--
-- Event detail (camelCase): {"widgetId": 1, "widgetName": "fooWidget", "creationDate": "..."}
-- plus tenantId and eventId, which the relay adds.

SELECT hookstack.emit_events(
    'public.widget',
    'widget',
    'tenantid',
    '{"widgetid": "widgetId"}'::jsonb
);

CREATE OR REPLACE PROCEDURE public.create_widget(tenant int, widget_name varchar)
LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO public.widget (tenantId, widget_name) VALUES (tenant, widget_name);
END
$$;
